struct Counter;

impl Counter {
    #[rivulet::remote]
    fn bump(&self, x: i64) -> i64 {
        x + 1
    }
}

fn main() {
    let _ = Counter.bump(1);
}
