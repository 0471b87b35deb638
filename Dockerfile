# syntax=docker/dockerfile:1
# Container image of cpp-metrics-server.
#   docker build -t cpp-metrics-server:latest .      (BuildKit; buildah bud works too)
# Build stage: Debian 12 with the project's own dependency script (its build packages only); only
# the server target is built, without the test tree. The compiler cache lives in a build cache
# mount, so a rebuild after a source change recompiles only what changed; it never reaches the
# image.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -G Ninja -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    && cmake --build /build --target cpp-metrics-server \
    && strip /build/cmd/cpp-metrics-server

# Runtime stage: the shared libraries the binary links (ldd: libssl3/libcrypto, yaml-cpp 0.7,
# spdlog 1.10, fmt 9, libstdc++, libgcc, libc) and nothing else; no shell tools are needed.
FROM debian:bookworm-slim
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /build/cmd/cpp-metrics-server /usr/local/bin/cpp-metrics-server
# nobody:nogroup, as the manifests run it (runAsUser/runAsGroup 65534).
USER 65534:65534
EXPOSE 10250
ENTRYPOINT ["/usr/local/bin/cpp-metrics-server"]
