fn main() {
    aires::warn!("{} {}", 1, id = 7, 2);
}
