// A remote window cannot be joined with a local stream: gather it first.
use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let local = futures::stream::iter(vec![1_i64, 2]);
    let windows = futures::stream::iter(0..10_i64).scatter(&client).sliding_window(2, true);
    let _joined = local.combine_latest(windows);
}

fn main() {
    drop(pipeline);
}
