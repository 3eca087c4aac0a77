from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self) -> None:
        from registry import details, mirror
        from registry.models import MlflowOutbox
        from training.details import training_details
        from training.tracking import apply_training_run

        details.register(training_details)
        # The registry's mirror applies the outbox; only training can log a run (it needs the bundle).
        mirror.register_applier(MlflowOutbox.Operation.LOG_TRAINING_RUN, apply_training_run)
