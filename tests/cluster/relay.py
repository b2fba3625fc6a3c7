"""A TCP relay that delays every byte by DELAY_MS in each direction (the round trip grows by twice
that), keeping order and throughput: the kernel here has no netem, so latency between cairn and
S3 comes from this. Usage: relay.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS"""
import asyncio
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data or None))
            if not data:
                break
    except ConnectionError:
        await queue.put((loop.time(), None))
    await sender


async def main():
    listen, target, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
    th, tp = target.rsplit(":", 1)

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(th, int(tp))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, sw, delay), pump(sr, cw, delay), return_exceptions=True)

    lh, lp = listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, lh, int(lp))
    print("relay ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
