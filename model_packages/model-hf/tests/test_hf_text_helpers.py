"""The pure helpers of the adapter: chat messages, stop strings, token counting, params."""

import pytest
from model_hf.adapter import (
    HFParams,
    build_messages,
    count_output_tokens,
    stop_prefix_length,
    stream_until_stop,
    truncate_at_stop,
)
from model_interface import ChatTurn, GenerationRequest, ModelParamsError, get_spec
from pydantic import ValidationError

REQUEST = GenerationRequest(
    prompt="What is the total?",
    system_prompt="Answer briefly.",
    history=[ChatTurn(role="user", content="Hi"), ChatTurn(role="assistant", content="Hello")],
)


def test_messages_for_a_processor_use_parts_with_images_first() -> None:
    assert build_messages(REQUEST, image_count=2, multimodal=True) == [
        {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "What is the total?"}],
        },
    ]


def test_messages_for_a_text_tokenizer_use_strings() -> None:
    assert build_messages(REQUEST, image_count=0, multimodal=False) == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "What is the total?"},
    ]


def test_truncate_at_the_earliest_stop_string() -> None:
    assert truncate_at_stop("Total: 12\nDate: 3", ("Date", "\n")) == "Total: 12"
    assert truncate_at_stop("no stop here", ("###",)) == "no stop here"
    assert truncate_at_stop("anything", ()) == "anything"


def test_stream_until_stop_catches_a_stop_string_split_across_pieces() -> None:
    pieces = ["The total", " is 12.", "\n##", "# next", " question"]
    assert "".join(stream_until_stop(pieces, ("###",))) == "The total is 12.\n"


def test_stream_until_stop_without_stop_strings_passes_everything_through() -> None:
    pieces = ["a", "", "bc", "d"]
    assert list(stream_until_stop(pieces, ())) == ["a", "bc", "d"]


def test_stream_until_stop_at_the_very_start_yields_nothing() -> None:
    assert list(stream_until_stop(["STOP", " after"], ("STOP",))) == []


def test_output_tokens_count_up_to_and_including_eos_and_exclude_padding() -> None:
    assert count_output_tokens([5, 6, 2, 0, 0], eos_ids={2}, pad_id=0) == 3
    assert count_output_tokens([5, 6, 2, 2, 2], eos_ids={2}, pad_id=2) == 3  # pad == eos (SmolLM2)
    assert count_output_tokens([5, 6, 0, 0], eos_ids={2}, pad_id=0) == 2  # stopped by a stop string
    assert count_output_tokens([5, 6, 7], eos_ids={2}, pad_id=0) == 3  # hit max_new_tokens


def test_params_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        HFParams(model_pth="/models/x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        HFParams(dtype="int8")  # type: ignore[arg-type]
    with pytest.raises(ModelParamsError, match="num_threads"):
        get_spec("smollm2-135m").validate_params({"num_threads": 0})


def test_stream_until_stop_holds_back_only_what_could_start_a_stop_string() -> None:
    # A first word shows at once (TTFT); only a trailing "\n" waits, since it may start "\n\n".
    assert list(stream_until_stop(["The", " total", " is\n", "12", "\n\nnext"], ("\n\n",))) == [
        "The", " total", " is", "\n12"
    ]  # fmt: skip
    assert stop_prefix_length("abc##", ("###",)) == 2 and stop_prefix_length("abc", ("###",)) == 0
