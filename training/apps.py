from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self) -> None:
        from registry import details
        from training.details import training_details

        details.register(training_details)
