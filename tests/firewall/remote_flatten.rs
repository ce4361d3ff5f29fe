// streamz-vectors V129: `scatter().flatten()` fails because a future is not iterable.
use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let remote = futures::stream::iter(vec![vec![1_i64, 2]]).scatter(&client);
    let _flat = remote.flatten_iter();
}

fn main() {
    drop(pipeline);
}
