// A remote window is a remote stream too: its batches must be gathered before a local sink.
use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let batches = futures::stream::iter(0..10_i64).scatter(&client).partition(3);
    batches.sink(|batch: Vec<i64>| println!("{batch:?}"));
}

fn main() {
    drop(pipeline);
}
