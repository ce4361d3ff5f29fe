use rivulet::prelude::*;

async fn f(client: rivulet::Client) {
    let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
    let _doubled = remote.map(|x: i64| x * 2);
}

fn main() {}
