fn main() {
    let err = std::io::Error::other("x");
    aires::error!("m", error = &err, error = &err);
}
