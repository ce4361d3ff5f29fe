use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let local = futures::stream::iter(vec![1_i64, 2]);
    let remote = futures::stream::iter(vec![3_i64, 4]).scatter(&client);
    let _joined = local.union(remote);
}

fn main() {
    drop(pipeline);
}
