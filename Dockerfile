# The `wakusim` image for distributed sweeps (docs/distributed-sweeps.md): the release binary
# and the bundled scenarios and sweep files, nothing else.
#
#   docker build -t wakusim:latest .
#   docker run --rm wakusim:latest list
#   docker run --rm -v "$PWD/results:/results" wakusim:latest \
#       sweep /opt/wakusim/scenarios/sweeps/relay-small-d.toml --out /results
#
# Stage 1 builds with the toolchain version the workspace requires at least (rust-version in
# Cargo.toml) or later, exactly the dependency versions of Cargo.lock (--locked).
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY sim-core sim-core
COPY topologies topologies
COPY protocols protocols
COPY experiments experiments
# The build records `git rev-parse HEAD` in every run's manifest (`git_commit`); .git is not
# copied in, so runs made with this image record "unknown": tag the image with the commit
# instead (`docker build -t wakusim:$(git rev-parse --short HEAD) .`).
RUN cargo build --release --locked -p experiments \
 && cp target/release/wakusim /usr/local/bin/wakusim

# Stage 2: a small runtime image. The binary links only glibc (plots use a bundled font).
FROM debian:bookworm-slim
COPY --from=builder /usr/local/bin/wakusim /usr/local/bin/wakusim
# The bundled scenarios are also compiled into the binary (`wakusim run relay-1k`); the files
# are here so that sweep files (which name their scenario by a relative path) work, and as
# bases for your own scenarios (`extends = "/opt/wakusim/scenarios/relay-1k.toml"`).
COPY experiments/scenarios /opt/wakusim/scenarios
# Pod logs are not terminals: no progress bars.
ENV CI=1 WAKUSIM_OUT=/results
WORKDIR /results
# Run as an unprivileged user; the results volume must be writable by it (fsGroup in Kubernetes).
RUN useradd --uid 10001 --create-home wakusim && chown wakusim /results
USER 10001
ENTRYPOINT ["wakusim"]
CMD ["--help"]
