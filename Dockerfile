# One image for every Duban service; the command picks the service (the console overrides the
# entrypoint: python -m services.console). Runs as an unprivileged user with a fixed uid, so
# Kubernetes can check runAsNonRoot and give it volumes (fsGroup 10001).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY duban ./duban
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --user-group duban \
    && mkdir -p /var/lib/duban/evidence && chown -R duban:duban /var/lib/duban
USER 10001
# tracking's evidence files go to /var/lib/duban/evidence: mount a volume its replicas share.
ENV DUBAN_HOST=0.0.0.0 DUBAN_DATA_DIR=/var/lib/duban
EXPOSE 8100 8101 8102 8103 8104
ENTRYPOINT ["duban", "run"]
