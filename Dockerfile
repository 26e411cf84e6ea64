# One image for every Duban service; the command picks the service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY duban ./duban
RUN pip install --no-cache-dir . && useradd --system duban
USER duban
ENV DUBAN_HOST=0.0.0.0
ENTRYPOINT ["duban", "run"]
