// A remote stream's `union` takes another remote stream, never a local one.
use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
    let local = futures::stream::iter(vec![3_i64, 4]);
    let _joined = remote.union(local);
}

fn main() {
    drop(pipeline);
}
