# cellwise: one image for the web and worker services (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 \
    CELLWISE_VAR_DIR=/app/var PROMETHEUS_MULTIPROC_DIR=/app/var/prometheus
WORKDIR /app
COPY requirements.txt .
# torch from PyTorch's CPU index first: any other torch pulls several GB of CUDA wheels.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings, not secrets: a throwaway key for this build step only.
RUN DJANGO_SECRET_KEY=build-only-not-used-at-runtime python manage.py collectstatic --noinput -v0 \
 && useradd --create-home --uid 1000 cellwise && mkdir -p /app/var && chown -R cellwise /app/var
USER cellwise
EXPOSE 8060
ENTRYPOINT ["scripts/docker-entrypoint.sh"]
CMD ["web"]
