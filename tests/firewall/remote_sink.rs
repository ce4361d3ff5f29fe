use rivulet::prelude::*;

async fn pipeline(client: rivulet::Client) {
    let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
    let _done = remote.sink(|x: i64| println!("{x}"));
}

fn main() {
    drop(pipeline);
}
