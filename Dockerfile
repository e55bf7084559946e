# hashbank node image (Debian 12). Build: docker build -t hashbank:local .
# Run one node on embedded defaults:  docker run --rm -p 127.0.0.1:8443:8443 hashbank:local
# A federation of three nodes:       docker-compose up   (see docker-compose.yml and README.md)

# ---- build: the packages from scripts/setup.sh, then scripts/build.sh without tests and benchmarks ----
FROM debian:bookworm-slim AS build
WORKDIR /src
# setup.sh alone first, so the package layer is reused while only the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The Debian sources the browser SDK's WebAssembly core compiles (scripts/fetch-web-sources.sh), then the build.
RUN bash scripts/fetch-web-sources.sh && rm -rf /var/lib/apt/lists/* \
 && bash scripts/build.sh -DHASHBANK_BUILD_TESTS=OFF -DHASHBANK_BUILD_BENCH=OFF \
 && strip --strip-debug -o /hashbank build/hashbank

# ---- runtime: only the shared libraries build/hashbank links (ldd build/hashbank, mapped with dpkg -S) ----
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 libboost-json1.81.0 libjpeg62-turbo libpng16-16 libprotobuf32 librocksdb7.8 \
      libsodium23 libssl3 libyaml-cpp0.7 libgomp1 liblapack3 libopenblas0-pthread \
      libavformat59 libavcodec59 libswscale6 libavutil57 libopencv-dnn406 libopencv-core406 \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so that files in volumes keep one owner across images. /federation belongs to it so that a
# new named volume mounted there (docker-compose.yml) starts out writable by the node.
RUN groupadd --system --gid 10001 hashbank \
 && useradd --system --uid 10001 --gid hashbank --home-dir /var/lib/hashbank --create-home \
      --shell /usr/sbin/nologin hashbank \
 && install -d -o hashbank -g hashbank -m 0750 /federation
COPY --from=build /hashbank /usr/local/bin/hashbank
COPY scripts/make-federation-configs.sh /usr/local/bin/make-federation-configs.sh
ENV HASHBANK=/usr/local/bin/hashbank
USER hashbank
# Without --config the node keeps its data in ./hashbank-data, i.e. /var/lib/hashbank/hashbank-data.
WORKDIR /var/lib/hashbank
EXPOSE 8443 9443
ENTRYPOINT ["hashbank"]
CMD ["serve", "--listen", "0.0.0.0:8443"]
