async fn fetch(handle: rivulet::RemoteFuture<i64>) -> i64 {
    handle.await
}

fn main() {
    drop(fetch);
}
