# Where cargo puts what it builds, asked of cargo, so scripts find the
# binaries wherever the user's set-up sends them (CARGO_TARGET_DIR,
# build.target-dir in a .cargo/config.toml). Source it, then:
#   target=$(cargo_target_dir)   ->  "$target/release/aires-collector"
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps --locked |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
