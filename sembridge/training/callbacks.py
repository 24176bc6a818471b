"""Trainer callbacks of a fine-tuning run: the FLOPs weights in the loss curve, and the settings
in effect when a run resumes (the warm-up of the FLOPs weights is sentence-transformers' own,
built in :mod:`sembridge.training.losses`)."""

from __future__ import annotations

from typing import Any

from sembridge.log import logger
from sembridge.training.config import FinetuneConfig

__all__ = ["ResumeSettings", "regularizer_weights_in_history"]


def regularizer_weights_in_history() -> Any:
    """A callback that copies the FLOPs weights logged by the warm-up callback into log_history.

    The warm-up callback adds them to the printed logs only; the loss curve should show them too.
    """
    from transformers import TrainerCallback

    keys = ("query_regularizer_weight", "document_regularizer_weight")

    class RegularizerWeightsInHistory(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and state.log_history:
                state.log_history[-1].update({k: logs[k] for k in keys if logs.get(k) is not None})

    return RegularizerWeightsInHistory()


class ResumeSettings:
    """A callback that, when training resumes, reads the learning rate and weight decay in effect
    on the restored optimizer and scheduler, and with ``apply`` first sets the run's own values.

    The trainer restores the optimizer's parameter groups (learning rate, weight decay) and the
    scheduler's base learning rate from the checkpoint; the schedule's shape (warm-up, total
    steps) follows the run's arguments. ``apply`` sets the peak rate and weight decay to the
    run's, so that the schedule continues from the checkpoint's step with the new values.
    """

    def __new__(cls, config: FinetuneConfig, apply: bool) -> Any:
        from transformers import TrainerCallback

        class ResumeSettings(TrainerCallback):
            def __init__(self) -> None:
                self.decay_params: set[int] = set()  # ids of the parameters with weight decay
                self.in_effect: dict[str, float] | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                optimizer, lr_scheduler = kwargs.get("optimizer"), kwargs.get("lr_scheduler")
                if state.global_step == 0 or optimizer is None or lr_scheduler is None:
                    return
                scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
                groups = optimizer.param_groups
                if apply:
                    old = list(scheduler.base_lrs)
                    scheduler.base_lrs = [config.learning_rate for _ in old]
                    lambdas = getattr(scheduler, "lr_lambdas", None)
                    for i, group in enumerate(groups):
                        group["initial_lr"] = config.learning_rate
                        if lambdas is not None:
                            group["lr"] = config.learning_rate * lambdas[i](scheduler.last_epoch)
                        elif old[i]:
                            group["lr"] *= config.learning_rate / old[i]
                        if any(id(p) in self.decay_params for p in group["params"]):
                            group["weight_decay"] = config.weight_decay
                self.in_effect = {
                    "--lr": float(max(scheduler.base_lrs)),
                    "--weight-decay": float(max(g.get("weight_decay", 0.0) for g in groups)),
                    "lr_at_resume": float(groups[0]["lr"]),
                }
                if self.in_effect["--lr"] != config.learning_rate and args.process_index == 0:
                    logger.warning(
                        "the learning rate follows the checkpoint's (%s), not --lr (%s)",
                        self.in_effect["--lr"],
                        config.learning_rate,
                    )

        return ResumeSettings()
