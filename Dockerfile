# sqlraft's rqlited in a container, from Debian packages only (no Docker engine runs on the
# development machine: docker/entrypoint.sh is tested in dry-run mode instead; see
# tests/server/entrypoint_test.py).
#   docker build -t sqlraft .
#   docker compose up          # the seed's three-node setup (docker-compose.yml)
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build rqlited rqbench

FROM debian:12-slim
# The run-time libraries of what build/bin/rqlited links (SQLite, Cap'n Proto, Boost.JSON,
# ISA-L, zlib).
RUN apt-get update && apt-get install -y --no-install-recommends \
      libsqlite3-0 libcapnp-0.9.2 libboost-json1.81.0 libisal2 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/rqlited /src/build/bin/rqbench /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /rqlite/file
VOLUME /rqlite/file
EXPOSE 4001 4002
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["rqlited"]
