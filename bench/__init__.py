"""hlsd's benchmarks: ``python -m bench [--quick] [--rows 1,2,...] [--repeat N]``.

Each row measures hlsd side by side with a baseline in the same run, so the ratios, not
the absolute times, are what we quote:

1. ``first_segment``  time to the first segment, cold, over HTTP, vs FFmpeg alone
2. ``seek``           a segment at 50 % of a 10-minute file, cold, vs FFmpeg alone with -ss
3. ``stop``           DELETE -> 204 with FFmpeg reaped (cooperative, and ignoring SIGTERM)
4. ``idle``           idle timeout precision: last request -> FFmpeg gone, minus the timeout
5. ``orphans``        hlsd SIGKILLed with 10 FFmpeg runs -> the last one gone
6. ``churn``          sessions created and stopped per second; cost of an idle session
7. ``concurrency``    100 sessions read at real-time pace: CPU, segment latency, errors
8. ``serving``        a ready segment and a playlist under ``wrk``, vs nginx

Everything runs on 127.0.0.1; every process started is ended by its pid; every loop is
bounded in count and in time. Media is generated once into ``bench/out/media``.
"""
