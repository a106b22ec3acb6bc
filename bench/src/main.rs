fn main() { println!("lwt benchmarks: see bench/README.md"); }
