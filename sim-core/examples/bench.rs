//! Prints the engine and network benchmark figures (the `wakusim bench` command prints the
//! same with peak memory): `cargo run --release -p sim-core --example bench -- NODES EVENTS`.
fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let nodes = args.first().copied().unwrap_or(10_000) as usize;
    let events = args.get(1).copied().unwrap_or(10_000_000);
    println!("{:?}", sim_core::bench::engine(nodes, events, 1));
    println!("{:?}", sim_core::bench::network(nodes.max(9), 1_000_000, 1));
}
