"""h2client.py: an HTTP/2 client for the tests, on Debian's python3-h2 over TLS (ALPN "h2").

It can also be told not to check what it sends (validate=False), so that attack checks can
send what a well-behaved client never would: upper-case or connection-specific fields, a
Host that disagrees with :authority, a body longer than its content-length."""
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.headers = {}
        self.body = bytearray()
        self.ended = False
        self.reset = None       # the error code of an RST_STREAM from the server


class H2:
    def __init__(self, gw, validate=True, timeout=20, window=None):
        self.gw = gw
        self.timeout = timeout
        ctx = gw.ssl_context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        s = socket.create_connection(("127.0.0.1", gw.https_port), timeout=timeout)
        self.sock = ctx.wrap_socket(s)
        self.alpn = self.sock.selected_alpn_protocol()
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=False)
        self.c = h2.connection.H2Connection(cfg)
        self.c.initiate_connection()
        if window is not None:
            self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.auto_ack = True
        self.streams = {}
        self.goaway = None      # the error code of the server's GOAWAY
        self.closed = False     # the server closed the connection
        self.flush()

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def authority(self):
        return "127.0.0.1:%d" % self.gw.https_port

    def send(self, method, path, headers=(), body=None, authority=None, end=True, token=None,
             flush=True):
        """Opens a stream; returns its Stream.  BODY (bytes) is sent as the window allows;
        without FLUSH the frames wait for the next flush()."""
        sid = self.c.get_next_available_stream_id()
        hs = [(":method", method), (":scheme", "https"),
              (":authority", authority or self.authority()), (":path", path)]
        if token:
            hs.append(("authorization", "token " + token))
        hs += list(headers)
        hs = [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
              for k, v in hs]
        st = self.streams[sid] = Stream(sid)
        self.c.send_headers(sid, hs, end_stream=body is None and end)
        if flush:
            self.flush()
        if body is not None:
            self.send_body(st, body, end)
        return st

    def send_body(self, st, body, end=True):
        off = 0
        while off < len(body) and st.reset is None and not self.closed:
            n = min(self.c.local_flow_control_window(st.sid), self.c.max_outbound_frame_size,
                    len(body) - off)
            if n <= 0:
                self.pump(lambda: self.c.local_flow_control_window(st.sid) > 0 or
                          st.reset is not None, 10)
                continue
            self.c.send_data(st.sid, body[off:off + n])
            off += n
            self.flush()
        if end and st.reset is None and not self.closed:
            self.c.end_stream(st.sid)
            self.flush()

    def reset(self, st, code=8):
        self.c.reset_stream(st.sid, code)
        self.flush()

    def pump(self, until, timeout=None):
        """Reads frames until until() holds, the server closes, or TIMEOUT; until()'s value."""
        deadline = time.time() + (timeout or self.timeout)
        while not until() and not self.closed and time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            try:
                events = self.c.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.closed = True
                break
            for ev in events:
                self.event(ev)
            try:
                self.flush()
            except OSError:
                self.closed = True
        return until()

    def event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived) and st:
            for k, v in ev.headers:
                k, v = k.decode(), v.decode()
                if k == ":status":
                    st.status = int(v)
                else:
                    st.headers[k] = v
        elif isinstance(ev, h2.events.DataReceived) and st:
            st.body += ev.data
            if self.auto_ack:
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded) and st:
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset) and st:
            st.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev.error_code

    def wait(self, st, timeout=None):
        self.pump(lambda: st.ended or st.reset is not None, timeout)
        return st

    def request(self, method, path, **kw):
        """One request on this connection: its Stream once it ended (or was reset)."""
        timeout = kw.pop("timeout", None)
        return self.wait(self.send(method, path, **kw), timeout)

    def close(self):
        try:
            self.c.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()
