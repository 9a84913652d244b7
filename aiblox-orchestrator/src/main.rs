//! The aiblox orchestrator service (placeholder until the orchestrator issue lands).

fn main() {
    eprintln!("aiblox-orchestrator: the service is not built yet; see the open issues");
    std::process::exit(2);
}
