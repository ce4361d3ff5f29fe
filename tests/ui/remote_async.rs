#[rivulet::remote]
async fn fetch(url: String) -> String {
    url
}

#[rivulet::remote]
unsafe fn deref(address: usize) -> u8 {
    address as u8
}

fn main() {}
