"""Memory of a real `uvicorn` feedback server under two attacks of issue 24, read from /proc/<pid>/status:
a 300 MB unauthenticated body streamed to every POST route that takes a body (the guard answers 401 before reading it),
and an authenticated upload of a PDF bomb (1.1 MB that inflates to 1.1 GiB: refused with 413 by the bounded reader's
child process). The server's peak RSS is reset (/proc/<pid>/clear_refs) before each attack.

Usage: python bench/hardening.py
Last line: body_mb=300 body_peak_growth_mb=X bomb_upload_mb=Y bomb_status=413 bomb_peak_growth_mb=Z
"""
import json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path

import httpx

SERVER = r'''
import sys, uvicorn
from pathlib import Path
from rlhf_summ.feedback.registry import Registry
from rlhf_summ.feedback.serve import ServeConfig, ServiceSettings, build_service, create_app
class StandIn:
    def save(self, d): Path(d).mkdir(parents=True); (Path(d) / 'w.txt').write_text('x')
root = Path(sys.argv[1]); registry = Registry(root / 'registry'); registry.register('policy', StandIn())
service = build_service(ServeConfig(service_dir=str(root), update_every=0), ServiceSettings(annotator_tokens={'alice': 'tok-alice'},
                        secret_key='k'), registry, lambda v, texts, seed, **kw: ['s'] * len(texts))
uvicorn.run(create_app(service), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')
'''


def status(pid: int, key: str) -> int:
    return int(next(l for l in Path(f'/proc/{pid}/status').read_text().splitlines() if l.startswith(key)).split()[1])


def stream_unauthenticated(port: int, path: str, mb: int) -> tuple[str, int]:
    "Send a `mb` MB body (declared length, no token) 64 KiB at a time; return (status line, MB sent before the server closed)."
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {mb * 2**20}\r\n\r\n'.encode())
    chunk, sent = b'x' * 65536, 0
    try:
        for _ in range(mb * 16): s.sendall(chunk); sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError): pass
    try: line = s.recv(4096).split(b'\r\n', 1)[0].decode()
    except ConnectionResetError: line = '(reset)'
    s.close()
    return line, sent // 2**20


def main():
    from rlhf_summ.text.pdf import bomb_pdf
    with tempfile.TemporaryDirectory() as d:
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, '-c', SERVER, d, str(port)])
        try:
            base, auth = f'http://127.0.0.1:{port}', {'Authorization': 'Bearer tok-alice'}
            for _ in range(600):
                try: httpx.get(f'{base}/api/health'); break
                except httpx.TransportError: time.sleep(0.1)
            from rlhf_summ.text.pdf import render_test_pdf   # warm up: a normal upload starts the reader's forkserver
            small = render_test_pdf([[(72, 72, 'A Title', 16, True), (72, 120, 'Words of a body text on a page. ' * 4, 10, False)]])
            print('warm-up upload:', httpx.post(f'{base}/api/documents', files={'file': ('ok.pdf', small)}, headers=auth, timeout=120).status_code)
            Path(f'/proc/{server.pid}/clear_refs').write_text('5'); before = status(server.pid, 'VmHWM')
            for path in ('/api/pairs/1/pick', '/pairs/1/pick', '/api/documents', '/documents', '/logout', '/api/new-route'):
                line, sent = stream_unauthenticated(port, path, 300)
                print(f'{path}: {line}, {sent} MB sent before the server closed')
            body_growth = (status(server.pid, 'VmHWM') - before) / 1024
            bomb = bomb_pdf(1100)
            Path(f'/proc/{server.pid}/clear_refs').write_text('5'); before = status(server.pid, 'VmHWM')
            r = httpx.post(f'{base}/api/documents', files={'file': ('bomb.pdf', bomb)}, headers=auth, timeout=300)
            bomb_growth = (status(server.pid, 'VmHWM') - before) / 1024
            print(f'bomb upload: {r.status_code} {r.json()["detail"]}')
        finally:
            server.terminate(); server.wait(30)
    print(f'body_mb=300 body_peak_growth_mb={body_growth:.1f} bomb_upload_mb={len(bomb) / 2**20:.2f} bomb_status={r.status_code} '
          f'bomb_peak_growth_mb={bomb_growth:.1f}')


if __name__ == '__main__': main()
