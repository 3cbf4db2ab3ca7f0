//! The smallest end-to-end check: a UDP listener routed to a UDP endpoint, over real sockets.

use crate::common::*;

#[tokio::test]
async fn udp_to_udp_round_trip_keeps_one_session_per_peer() {
    let echo = udp_echo("echo: ").await;
    let port = reserved_port();
    let proxy = start_proxy(&format!(
        "listeners:\n  - name: in\n    spec: {{protocol: UDP, port: {port}}}\n    rules:\n      \
         - action: {{route: {{destination: out}}}}\nclusters:\n  - name: out\n    \
         spec: {{protocol: UDP, port: {}}}\n    endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n",
        echo.port()
    ))
    .await;
    let client = udp_client(([127, 0, 0, 1], port).into()).await;
    assert_eq!(udp_roundtrip(&client, b"one").await, "echo: one");
    assert_eq!(udp_roundtrip(&client, b"two").await, "echo: two");
    let stats = &proxy.listener("in").expect("listener").stats;
    assert_eq!(stats.sessions_total.get(), 1);
    assert_eq!(stats.traffic.rx_packets.get(), 2);
    proxy.stop().await;
}
