//! Prints the event-loop backends this machine has, one name a line, best first (what
//! `LWT_BACKEND` accepts here; io_uring only where the kernel allows it), then the one an
//! automatic choice picks on standard error.
//!
//! ```sh
//! cargo run --example backends
//! ```

fn main() {
    for kind in lwt::BackendKind::available() {
        println!("{kind}");
    }
    match lwt::Builder::new().build() {
        Ok(rt) => eprintln!("automatic choice: {}", rt.backend_name()),
        Err(e) => eprintln!("no backend works here: {e}"),
    }
}
