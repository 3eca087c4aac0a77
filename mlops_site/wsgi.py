import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_site.settings")
django_application = get_wsgi_application()

from mlops_site.admission import AdmissionControl  # noqa: E402 (needs the settings configured above)

application = AdmissionControl(django_application)
