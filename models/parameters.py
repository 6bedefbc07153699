"""The demand model's parameters: light to import, so a check can read them at once."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

INCIDENTS_PER_LEAF = 50
"""What a leaf's rate should rest on, in incidents (the Poisson noise of its mean is then ~14%):
``sized`` turns it into a minimum of rows per leaf from the training window's rate."""
CANDIDATE_NAMES = ("sized", "simpler", "richer")
"""``ModelParameters.candidates``, in order."""
ROWS_PER_LEAF_ROOT = 40
"""``sized`` grows trees with the square root of the rows: 31 leaves for ~1.5 M rows."""


@dataclass(frozen=True)
class ModelParameters:
    objective: str = "poisson"
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.5
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 63
    num_boost_round: int = 120
    early_stopping_rounds: int = 20
    """With more than 0, the backtest's newest fold stops adding trees (of at most ``num_boost_round``)
    once its forecast's Poisson loss has not improved for this many rounds, and the older folds and
    the final model are fitted with the round count it chose: fewer trees where more only fit noise.
    0: always ``num_boost_round``."""
    train_days: int = 182
    seed: int = 7
    level_scaling: bool = False
    """Fit each series relative to its recent level: the level features (features.history.LEVEL_FEATURES)
    join the model and the Poisson fit starts from log(level) (LightGBM's init_score), so trees learn
    the ratio to the level rather than the level of the training window."""
    blend: bool = True
    """Blend the model's mean with the 4-week hour-of-week mean where the backtest's folds say it
    helps, with a weight per agency learned on them (models.blend)."""
    zero_sample_rate: float = 1.0
    """The share of zero-count training rows fitted on (models.sampling), each weighted 1 / rate so
    the Poisson fit stays unbiased; 1 fits every row."""
    excluded_features: tuple[str, ...] = ()
    """Model features left out of the fit (e.g. features.model_inputs.CROSS_AGENCY_FEATURES), to
    measure what they bring."""

    sizing: str = "fixed"
    """How ``num_leaves`` and ``min_data_in_leaf`` were set: "fixed" (as given), "size" (``sized``:
    from the training window's rows and incidents) or "search" (the best of ``candidates`` on the
    backtest's folds)."""

    def sized(self, rows: int, incidents: float) -> ModelParameters:
        """These parameters with trees sized to a training window of ``rows`` observed rows holding
        ``incidents``: leaves grow with the square root of the rows (7 to 127), and a leaf holds
        rows enough for ``INCIDENTS_PER_LEAF`` incidents at the window's rate (at least 20, and no
        more than a quarter of an even share of the rows), so a quiet feed gets fewer, larger
        leaves than a busy one and a big panel deeper trees than a small one."""
        if rows <= 0 or incidents <= 0:
            return replace(self, sizing="size")
        leaves = 2 ** round(math.log2(max(math.sqrt(rows) / ROWS_PER_LEAF_ROOT, 4))) - 1
        leaves = min(max(leaves, 7), 127)
        per_leaf = math.ceil(INCIDENTS_PER_LEAF * rows / incidents)
        per_leaf = min(max(per_leaf, 20), max(20, rows // (4 * leaves)))
        return replace(self, num_leaves=leaves, min_data_in_leaf=per_leaf, sizing="size")

    def candidates(self) -> list[ModelParameters]:
        """The small search around these (sized) parameters: as they are, simpler (half the
        leaves, twice the rows per leaf) and richer (the reverse)."""
        simpler = replace(self, num_leaves=max(3, (self.num_leaves + 1) // 2 - 1),
                          min_data_in_leaf=self.min_data_in_leaf * 2)  # fmt: skip
        richer = replace(self, num_leaves=min(255, (self.num_leaves + 1) * 2 - 1),
                         min_data_in_leaf=max(10, self.min_data_in_leaf // 2))  # fmt: skip
        return [replace(p, sizing="search") for p in (self, simpler, richer)]

    def lightgbm(self) -> dict:
        params = asdict(self)
        params.pop("num_boost_round")
        params.pop("train_days")
        params.pop("excluded_features")
        params.pop("level_scaling")
        params.pop("blend")
        params.pop("sizing")
        params.pop("zero_sample_rate")
        params.pop("early_stopping_rounds")
        return {**params, "verbose": -1, "num_threads": 2, "deterministic": True, "force_row_wise": True}

    @classmethod
    def from_logged(cls, logged: dict[str, str]) -> ModelParameters:
        """The parameters of a run logged with ``flat_params`` (MLflow keeps every value as text); a
        parameter added since the run was logged takes the value that run had in effect."""
        defaults = cls()
        typed: dict = {name: value for name, value in ADDED_SINCE.items() if name not in logged}
        for name, value in logged.items():
            if name == "excluded_features":
                typed[name] = tuple(f for f in value.split(",") if f)
            elif isinstance(getattr(defaults, name, None), bool):
                typed[name] = value.lower() == "true"
            elif name in cls.__dataclass_fields__:
                typed[name] = type(getattr(defaults, name))(value)
        return cls(**typed)


ADDED_SINCE = {"blend": False, "sizing": "fixed", "zero_sample_rate": 1.0, "early_stopping_rounds": 0}
"""Parameters added after models were first logged -> the value a run logged before them had."""


def flat_params(params: ModelParameters, horizon_hours: int, folds: int) -> dict:
    """Every parameter a training run is logged with (the excluded features as one comma-joined text)."""
    flat = {**asdict(params), "horizon_hours": horizon_hours, "backtest_folds": folds}
    return {**flat, "excluded_features": ",".join(params.excluded_features)}
