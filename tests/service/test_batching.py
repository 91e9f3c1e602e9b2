"""The batcher groups requests that arrive together, with a bounded wait. The batch function here is a
plain function recording what it was given (the batching logic is what is tested, not a model)."""

from __future__ import annotations

import asyncio
import threading

from model_interface import GenerationConfig, GenerationRequest, GenerationResult

from vlm_pipelines.service.batching import Batcher

HANG_S = 600  # only bounds a hang


def _recording_batch(calls: list[tuple[list[str], GenerationConfig]]):
    def run_batch(
        requests: list[GenerationRequest], config: GenerationConfig, stop: threading.Event
    ) -> list[GenerationResult]:
        calls.append(([request.prompt for request in requests], config))
        return [
            GenerationResult(text=request.prompt.upper(), model_id="echo", package_version="0")
            for request in requests
        ]

    return run_batch


def test_requests_arriving_together_share_a_batch_up_to_its_size() -> None:
    calls: list = []
    depths: list[int] = []
    batcher = Batcher(
        _recording_batch(calls), max_batch_size=4, max_wait_s=0.2, on_queue_change=depths.append
    )
    config = GenerationConfig()

    async def main() -> list[GenerationResult]:
        prompts = [f"q{i}" for i in range(6)]
        results = await asyncio.gather(
            *(batcher.submit(GenerationRequest(prompt=p), config) for p in prompts)
        )
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert [result.text for result in results] == [f"Q{i}" for i in range(6)]  # each gets its own answer
    assert [prompts for prompts, _ in calls] == [["q0", "q1", "q2", "q3"], ["q4", "q5"]]
    assert max(depths) >= 5  # the queue depth was reported while requests waited


def test_a_batch_holds_one_generation_config() -> None:
    calls: list = []
    batcher = Batcher(_recording_batch(calls), max_batch_size=8, max_wait_s=0.2)
    short, long = GenerationConfig(max_new_tokens=4), GenerationConfig(max_new_tokens=64)

    async def main() -> None:
        configs = [short, long, short, long]
        await asyncio.gather(
            *(batcher.submit(GenerationRequest(prompt=f"q{i}"), c) for i, c in enumerate(configs))
        )
        await batcher.close()

    asyncio.run(main())
    assert [(prompts, config.max_new_tokens) for prompts, config in calls] == [
        (["q0", "q2"], 4),
        (["q1", "q3"], 64),
    ]


def test_a_lone_request_is_answered_when_the_wait_ends() -> None:
    calls: list = []
    batcher = Batcher(_recording_batch(calls), max_batch_size=8, max_wait_s=0.05)

    async def main() -> GenerationResult:
        # A batch of one: answered once max_wait_s ends, not held for a full batch.
        result = await asyncio.wait_for(
            batcher.submit(GenerationRequest(prompt="alone"), GenerationConfig()), HANG_S
        )
        await batcher.close()
        return result

    assert asyncio.run(main()).text == "ALONE"
    assert calls == [(["alone"], GenerationConfig())]


def test_a_request_arriving_while_a_batch_waits_joins_it() -> None:
    calls: list = []
    # The wait only bounds a hang: the batch closes when the second request makes it full.
    batcher = Batcher(_recording_batch(calls), max_batch_size=2, max_wait_s=HANG_S)
    config = GenerationConfig()

    async def main() -> None:
        first = asyncio.create_task(batcher.submit(GenerationRequest(prompt="first"), config))
        await asyncio.sleep(0.05)  # the batch has opened (or not yet: either way it takes both)
        await asyncio.wait_for(
            asyncio.gather(first, batcher.submit(GenerationRequest(prompt="second"), config)), HANG_S
        )
        await batcher.close()

    asyncio.run(main())
    assert calls == [(["first", "second"], config)]


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    attempts: list[int] = []

    def flaky(
        requests: list[GenerationRequest], config: GenerationConfig, stop: threading.Event
    ) -> list[GenerationResult]:
        attempts.append(len(requests))
        if len(attempts) == 1:
            raise RuntimeError("device lost")
        return [GenerationResult(text="ok", model_id="m", package_version="0") for _ in requests]

    batcher = Batcher(flaky, max_batch_size=8, max_wait_s=0.01)

    async def main() -> tuple[BaseException | GenerationResult, GenerationResult]:
        first = await asyncio.gather(
            batcher.submit(GenerationRequest(prompt="a"), GenerationConfig()), return_exceptions=True
        )
        second = await batcher.submit(GenerationRequest(prompt="b"), GenerationConfig())
        await batcher.close()
        return first[0], second

    first, second = asyncio.run(main())
    assert isinstance(first, RuntimeError) and "device lost" in str(first)
    assert second.text == "ok"


def test_a_batch_whose_clients_all_left_is_told_to_stop_and_a_queued_leaver_is_dropped() -> None:
    generating = threading.Event()
    seen: list[tuple[list[str], bool]] = []

    def run_batch(
        requests: list[GenerationRequest], config: GenerationConfig, stop: threading.Event
    ) -> list[GenerationResult]:
        if requests[0].prompt == "long":
            generating.set()
            stop.wait(30)  # a model honouring the event ends here; the bound only stops a hang
        seen.append(([request.prompt for request in requests], stop.is_set()))
        return [GenerationResult(text="ok", model_id="m", package_version="0") for _ in requests]

    dropped: list[int] = []
    batcher = Batcher(run_batch, max_batch_size=1, max_wait_s=0.0, on_dropped=dropped.append)

    async def main() -> GenerationResult:
        long = asyncio.create_task(batcher.submit(GenerationRequest(prompt="long"), GenerationConfig()))
        queued = asyncio.create_task(batcher.submit(GenerationRequest(prompt="queued"), GenerationConfig()))
        await asyncio.to_thread(generating.wait, 30)
        queued.cancel()  # its client leaves while it waits
        long.cancel()  # and the generating one's too
        after = await batcher.submit(GenerationRequest(prompt="after"), GenerationConfig())
        await batcher.close()
        return after

    after = asyncio.run(main())
    assert seen == [(["long"], True), (["after"], False)]  # "queued" never reached the model
    assert dropped == [1] and after.text == "ok"


def test_a_batch_goes_on_while_any_of_its_clients_waits() -> None:
    generating, proceed = threading.Event(), threading.Event()
    calls: list[tuple[list[str], bool]] = []

    def run_batch(
        requests: list[GenerationRequest], config: GenerationConfig, stop: threading.Event
    ) -> list[GenerationResult]:
        generating.set()
        proceed.wait(30)
        calls.append(([request.prompt for request in requests], stop.is_set()))
        return [GenerationResult(text=r.prompt, model_id="m", package_version="0") for r in requests]

    batcher = Batcher(run_batch, max_batch_size=2, max_wait_s=5.0)

    async def main() -> GenerationResult:
        leaving = asyncio.create_task(batcher.submit(GenerationRequest(prompt="a"), GenerationConfig()))
        staying = asyncio.create_task(batcher.submit(GenerationRequest(prompt="b"), GenerationConfig()))
        await asyncio.to_thread(generating.wait, 30)
        leaving.cancel()
        await asyncio.sleep(0)  # the cancellation is seen before the batch returns
        proceed.set()
        result = await staying
        await batcher.close()
        return result

    assert asyncio.run(main()).text == "b"
    assert calls == [(["a", "b"], False)]
