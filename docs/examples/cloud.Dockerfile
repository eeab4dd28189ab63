# Image for the compose example: the Teddy cloud only (no speech models, no audio libraries).
# Build from the repository root:  docker build -f docs/examples/cloud.Dockerfile -t teddy-cloud .
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY cloud cloud
COPY teddy teddy
COPY device device
COPY scenarios scenarios
RUN pip install --no-cache-dir '.[cloud]' \
    && useradd --system --create-home --home-dir /var/lib/teddy teddy \
    && install -d -o teddy -g teddy -m 700 /var/lib/teddy-keys
USER teddy
WORKDIR /var/lib/teddy
EXPOSE 8080
CMD ["teddy", "cloud", "serve", "--help"]
