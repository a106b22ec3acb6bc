//! The Windows subset, on every OS: `pick` between a timeout and socket reads; the canceled
//! read consumes nothing and the socket stays usable.
mod util;

use lwt::net::Socket;
use std::future::Future;
use std::net::TcpStream;
use std::pin::Pin;
use std::time::Duration;

type Fut<'a> = Pin<Box<dyn Future<Output = lwt::Result<(usize, Vec<u8>)>> + 'a>>;

async fn pair() -> (Socket<TcpStream>, Socket<TcpStream>) {
    let l = Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.get_ref().local_addr().unwrap();
    let c = lwt::spawn(async move { Socket::<TcpStream>::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

fn read_into(i: usize, s: &Socket<TcpStream>) -> Fut<'_> {
    Box::pin(async move {
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await?;
        Ok((i, buf[..n].to_vec()))
    })
}

#[test]
fn pick_timeout_against_a_read_cancels_the_read() {
    util::for_each_backend(|_| async {
        let (a, b) = pair().await;
        let futs: Vec<Fut<'_>> = vec![
            Box::pin(async {
                lwt::sleep(Duration::from_millis(20)).await?;
                Ok((0, Vec::new()))
            }),
            read_into(1, &b),
        ];
        // Nothing is written: the timer wins and the read is canceled (dropped).
        assert_eq!(lwt::pick(futs).await.unwrap(), (0, Vec::new()));
        // The canceled read consumed nothing: data written now is all there.
        a.write_all(b"after").await.unwrap();
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = b.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"after");
    });
}

#[test]
fn pick_between_two_reads_takes_the_ready_one() {
    util::for_each_backend(|_| async {
        let (a1, b1) = pair().await;
        let (a2, b2) = pair().await;
        a2.write_all(b"two").await.unwrap();
        let futs: Vec<Fut<'_>> = vec![
            read_into(1, &b1),
            read_into(2, &b2),
            Box::pin(async {
                lwt::sleep(Duration::from_secs(5)).await?;
                Ok((0, Vec::new()))
            }),
        ];
        let (i, data) = lwt::pick(futs).await.unwrap();
        assert_eq!(i, 2);
        assert_eq!(data, b"two");
        // The loser (b1's read) was canceled and consumed nothing.
        a1.write_all(b"one").await.unwrap();
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = b1.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"one");
    });
}
