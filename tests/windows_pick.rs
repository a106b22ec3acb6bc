//! The Windows subset, on every OS: `pick` between a timeout and socket reads through the
//! `futures_io` traits; the canceled read consumes nothing and the socket stays usable.
mod util;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lwt::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type Fut<'a> = Pin<Box<dyn Future<Output = std::io::Result<(usize, Vec<u8>)>> + 'a>>;

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let c = lwt::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

fn read_into(i: usize, s: &mut TcpStream) -> Fut<'_> {
    Box::pin(async move {
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await?;
        Ok((i, buf[..n].to_vec()))
    })
}

fn sleep_then(d: Duration) -> Fut<'static> {
    Box::pin(async move {
        lwt::sleep(d).await;
        Ok((0, Vec::new()))
    })
}

#[test]
fn pick_timeout_against_a_read_cancels_the_read() {
    util::for_each_backend(|_| async {
        let (mut a, mut b) = pair().await;
        let futs: Vec<Fut<'_>> = vec![sleep_then(Duration::from_millis(20)), read_into(1, &mut b)];
        // Nothing is written: the timer wins and the read is canceled (dropped).
        assert_eq!(lwt::pick(futs).await.unwrap(), (0, Vec::new()));
        // The canceled read consumed nothing: data written now is all there.
        a.write_all(b"after").await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after");
    });
}

#[test]
fn pick_between_two_reads_takes_the_ready_one() {
    util::for_each_backend(|_| async {
        let (mut a1, mut b1) = pair().await;
        let (mut a2, mut b2) = pair().await;
        a2.write_all(b"two").await.unwrap();
        let futs: Vec<Fut<'_>> = vec![
            read_into(1, &mut b1),
            read_into(2, &mut b2),
            sleep_then(Duration::from_secs(5)),
        ];
        let (i, data) = lwt::pick(futs).await.unwrap();
        assert_eq!(i, 2);
        assert_eq!(data, b"two");
        // The loser (b1's read) was canceled and consumed nothing.
        a1.write_all(b"one").await.unwrap();
        let mut got = [0u8; 3];
        b1.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one");
    });
}
