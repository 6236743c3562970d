"""ITU-T G.107 E-model: transmission rating R and MOS from delay, jitter and loss."""

from __future__ import annotations

import math

# G.107 default Ro − Is with echo fully controlled (Idte = Idle = 0): R of a perfect G.711 call.
R_DEFAULT = 93.2
# G.711 with packet loss concealment (G.113 Appendix I): equipment impairment and robustness.
IE_G711 = 0.0
BPL_G711 = 25.1
BURST_RATIO = 1.0  # random (independent) loss
ADVANTAGE = 0.0  # A: no advantage factor for a wired call
MT_S = 0.100  # mT: delay below which Idd is zero (G.107 default 100 ms)
JITTER_BUFFER_FACTOR = 2.0  # a de-jitter buffer sized at twice the mean |IPDV|


def delay_impairment(one_way_delay_s: float) -> float:
    """Idd of G.107 (sT = 1, mT = 100 ms): zero up to 100 ms, rising beyond."""
    if one_way_delay_s <= MT_S:
        return 0.0
    x = math.log2(one_way_delay_s / MT_S)
    return float(25.0 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2))


def effective_equipment_impairment(loss_percent: float) -> float:
    """Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)."""
    ppl = max(0.0, loss_percent)
    return IE_G711 + (95 - IE_G711) * ppl / (ppl / BURST_RATIO + BPL_G711)


def r_factor(one_way_delay_s: float, loss_percent: float) -> float:
    """R = Ro − Is − Id − Ie,eff + A with G.107 defaults and echo controlled."""
    return (
        R_DEFAULT
        - delay_impairment(one_way_delay_s)
        - effective_equipment_impairment(loss_percent)
        + ADVANTAGE
    )


def mos_from_r(r: float) -> float:
    """G.107 Annex B: MOS = 1 + 0.035 R + R (R − 60)(100 − R) · 7·10⁻⁶, clamped to 1 .. 4.5."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    # The polynomial dips just below 1 for 0 < R < 6.5; the MOS scale starts at 1.
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def mos_from_path(one_way_delay_s: float, jitter_s: float, loss_percent: float) -> float:
    """MOS of a G.711 call whose de-jitter buffer adds 2 × jitter to the one-way delay."""
    delay = one_way_delay_s + JITTER_BUFFER_FACTOR * jitter_s
    return mos_from_r(r_factor(delay, loss_percent))
