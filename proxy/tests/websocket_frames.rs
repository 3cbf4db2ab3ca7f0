//! WebSocket message kinds through the proxy: text comes back from Echo as text, binary as
//! binary, a binary reply that is not UTF-8 stays binary, and a text frame that is not UTF-8
//! gets a close frame with status 1007 (invalid frame payload data).

use crate::common::*;
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn echo_config(port: u16) -> String {
    format!(
        "listeners:\n  - name: ws\n    spec: {{protocol: WebSocket, port: {port}}}\n    \
         rules: [{{action: {{route: {{destination: {{spec: {{protocol: Echo}}}}}}}}}}]\n"
    )
}

#[tokio::test]
async fn echo_answers_text_with_text_and_binary_with_binary() {
    let port = reserved_port();
    let proxy = start_proxy(&echo_config(port)).await;
    let mut ws = ws_client(local(port), "/").await;
    ws.send(Message::Text("héllo".into())).await.expect("send");
    assert_eq!(ws_recv(&mut ws).await, Message::Text("héllo".into()));
    ws.send(Message::Binary(vec![0xff, 0x00].into()))
        .await
        .expect("send");
    assert_eq!(
        ws_recv(&mut ws).await,
        Message::Binary(vec![0xff, 0x00].into())
    );
    ws.send(Message::Text("again".into())).await.expect("send");
    assert_eq!(ws_recv(&mut ws).await, Message::Text("again".into()));
    proxy.stop().await;
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_gets_close_1007() {
    let port = reserved_port();
    let proxy = start_proxy(&echo_config(port)).await;
    let mut ws = ws_client(local(port), "/").await;
    // A final, masked text frame (mask 0, so the payload goes as is) of two bytes that are
    // not UTF-8, written under the library, which would refuse to send it.
    let frame = [0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe];
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP expected");
    };
    tcp.write_all(&frame).await.expect("write the frame");
    match ws_recv(&mut ws).await {
        Message::Close(Some(close)) => assert_eq!(close.code, CloseCode::Invalid, "{close:?}"),
        other => panic!("expected a close frame with 1007, got {other:?}"),
    }
    assert_eq!(listener_stats(&proxy, "ws").session_errors.get(), 1);
    proxy.stop().await;
}
