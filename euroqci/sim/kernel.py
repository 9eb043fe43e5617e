"""The compiled inner loop of the digital twin: many time steps between two routing events.

Between two events (a failure or repair, a periodic re-routing check) every demand keeps
its route, so the per-step work is plain arithmetic over arrays of links and demands; numba
compiles it (a Python loop over 259,200 steps x hundreds of links would take minutes).
The rules are those of :mod:`euroqci.network.relay`: a request of ``b`` bits is served only
when every hop of its route holds its hop charge (one-time pad: ``b`` bits per hop), and
then every hop's store loses exactly that charge.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def run_steps(
    step0, step1, dt_s,
    # links
    rate_bps, capacity_bits, link_ok, store, produced, discarded, delivered, relayed,
    # satellite pass events (sorted by step), the next one to apply
    ev_step, ev_link, ev_bits, ev_ptr,
    # demands
    path_links, path_charge, path_len, request_bits, interval_s,
    next_arrival_s, pending, oldest_s, max_pending,
    requested, served, expired, wait_sum_s, served_requests, starved,
    blocked_store, blocked_down, no_route_steps,
    # samples
    sample_every, sample_store, sample_served, sample_requested,
):
    """Advance the state from step ``step0`` to ``step1`` (exclusive), in place.

    Returns the index of the next unapplied pass event. Each step: links produce key into
    their stores (capped; the excess is discarded), finished satellite passes add their key,
    requests arrive, then demands are served in a rotating order (fair under contention).
    """
    n_links = rate_bps.shape[0]
    n_dem = path_len.shape[0]
    n_ev = ev_step.shape[0]
    for step in range(step0, step1):
        t_end = (step + 1) * dt_s
        for i in range(n_links):
            if link_ok[i] and rate_bps[i] > 0.0:
                add = rate_bps[i] * dt_s
                produced[i] += add
                s = store[i] + add
                if s > capacity_bits[i]:
                    discarded[i] += s - capacity_bits[i]
                    s = capacity_bits[i]
                store[i] = s
        while ev_ptr < n_ev and ev_step[ev_ptr] <= step:
            i = ev_link[ev_ptr]
            if ev_step[ev_ptr] == step and link_ok[i]:
                produced[i] += ev_bits[ev_ptr]
                s = store[i] + ev_bits[ev_ptr]
                if s > capacity_bits[i]:
                    discarded[i] += s - capacity_bits[i]
                    s = capacity_bits[i]
                store[i] = s
            ev_ptr += 1
        for d in range(n_dem):
            if request_bits[d] <= 0.0 or next_arrival_s[d] >= t_end:
                continue
            k = np.floor((t_end - next_arrival_s[d]) / interval_s[d] - 1e-12) + 1.0
            if pending[d] == 0.0:
                oldest_s[d] = next_arrival_s[d]
            pending[d] += k
            requested[d] += k * request_bits[d]
            next_arrival_s[d] += k * interval_s[d]
            if pending[d] > max_pending[d]:
                drop = pending[d] - max_pending[d]
                expired[d] += drop * request_bits[d]
                pending[d] -= drop
                oldest_s[d] += drop * interval_s[d]
        for j in range(n_dem):
            d = (j + step) % n_dem
            starved[d] = False
            if pending[d] == 0.0:
                continue
            n_hops = path_len[d]
            if n_hops <= 0:
                no_route_steps[d] += 1
                starved[d] = True
                continue
            can = pending[d]
            limit = -1  # the hop (position on the route) that limits the demand
            down = False
            for h in range(n_hops):
                i = path_links[d, h]
                if not link_ok[i]:
                    limit = h
                    down = True
                    can = 0.0
                    break
                m = np.floor(store[i] / path_charge[d, h])
                if m < can:
                    can = m
                    limit = h
            if can <= 0.0:
                starved[d] = True
                if down:
                    blocked_down[d, limit] += 1
                else:
                    blocked_store[d, limit] += 1
                continue
            for h in range(n_hops):
                i = path_links[d, h]
                c = can * path_charge[d, h]
                store[i] -= c
                if h == 0:  # the first hop's key is the end-to-end key (relay.py)
                    delivered[i] += c
                else:
                    relayed[i] += c
            served[d] += can * request_bits[d]
            served_requests[d] += can
            # FIFO: the served requests arrived at oldest, oldest + interval, ...
            wait_sum_s[d] += can * t_end - can * oldest_s[d] - interval_s[d] * can * (can - 1) / 2
            pending[d] -= can
            oldest_s[d] += can * interval_s[d]
            starved[d] = pending[d] > 0.0
        if (step + 1) % sample_every == 0:
            row = (step + 1) // sample_every - 1
            if row < sample_store.shape[0]:
                for i in range(n_links):
                    sample_store[row, i] = store[i]
                for d in range(n_dem):
                    sample_served[row, d] = served[d]
                    sample_requested[row, d] = requested[d]
    return ev_ptr
