"""Requests: local validation before anything is sent, and the wire payload (contract §13.1)."""

import re

import pytest
from conftest import TEST_KEY

from nanobanana_magic import ValidationError, generate
from nanobanana_magic._request import (
    API_REFERENCE_MODEL,
    DEFAULT_MODEL,
    RESOLUTIONS,
    SIZES,
    ImageRequest,
    default_model,
)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and not re.search(r"\.\s+[A-Z]", message)


def png_file(path, size=(8, 8), color="red"):
    from PIL import Image

    Image.new("RGB", size, color).save(path, "PNG")
    return path


def nothing_sent(sim) -> bool:
    stats = sim.stats()
    return (
        stats["submit_requests"] == stats["status_requests"] == stats["uploads"] == 0
        and stats["headers"]["api"] == []
        and stats["headers"]["files"] == []
    )


def invalid_cases(tmp_path):
    """(keyword arguments, a word the message must contain) for every validation rule."""
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:  # a PNG header, then 10 MB of nothing
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(10_000_001)
    folder = tmp_path / "folder"
    folder.mkdir()
    return [
        (dict(prompt=""), "prompt is empty"),
        (dict(prompt="   \n "), "prompt is empty"),
        (dict(prompt="x" * 32_001), "32,000"),
        (dict(size="7:3"), "16:9"),
        (dict(size="1024x1024"), "1:1"),
        (dict(n=0), "1 to 4"),
        (dict(n=5), "1 to 4"),
        (dict(n=2.0), "whole number"),
        (dict(n="2"), "whole number"),
        (dict(n=True), "whole number"),
        (dict(resolution="8K"), "0.5K"),
        (dict(resolution="1080p"), "4K"),
        (dict(model=""), DEFAULT_MODEL),
        (dict(model="dall-e-3"), API_REFERENCE_MODEL),
        (dict(reference_images=[str(tmp_path / "missing.png")]), "does not exist"),
        (dict(reference_images=[str(folder)]), "not a file"),
        (dict(reference_images=[str(text_file)]), "png, jpeg, webp or gif"),
        (dict(reference_images=[str(big)]), "10 MB"),
        (dict(reference_images=[f"https://example.com/{i}.png" for i in range(15)]), "at most 14"),
        (dict(reference_images=["ftp://example.com/a.png"]), "http(s)"),
        (dict(reference_images=["data:image/png;base64,iVBORw0KGgo="]), "http(s)"),
        (dict(reference_images=[""]), "http(s) URL"),
    ]


def test_every_rule_raises_one_sentence_naming_the_fix_and_sends_nothing(sim, tmp_path, out_dir):
    for changes, expected in invalid_cases(tmp_path):
        options = dict(
            prompt="a lighthouse at dusk",
            base_url=sim.base_url,
            api_key=TEST_KEY,
            output_dir=out_dir,
        )
        options.update(changes)
        prompt = options.pop("prompt")
        with pytest.raises(ValidationError) as caught:
            generate(prompt, **options)
        message = str(caught.value)
        assert expected in message, (changes, message)
        assert one_sentence(message), message
    assert nothing_sent(sim)
    assert not (out_dir / "journal.jsonl").exists()


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root reads any file")
def test_an_unreadable_reference_is_refused(tmp_path):
    path = png_file(tmp_path / "secret.png")
    path.chmod(0)
    with pytest.raises(ValidationError, match="cannot be read"):
        ImageRequest.create("x", reference_images=[path])


def test_defaults_and_normalisation():
    request = ImageRequest.create("a cat", resolution="2k")
    assert (request.model, request.size, request.n, request.resolution) == (
        DEFAULT_MODEL,
        "1:1",
        1,
        "2K",
    )
    assert len(SIZES) == 14 and RESOLUTIONS == ("0.5K", "1K", "2K", "4K")


def test_one_setting_switches_to_the_api_reference_model(monkeypatch):
    assert default_model() == "nano-banana-2"
    monkeypatch.setenv("NANOBANANA_MODEL", API_REFERENCE_MODEL)
    assert default_model() == "gemini-3.1-flash-image-preview"


def test_payload_follows_the_contract_wire_format(tmp_path):
    request = ImageRequest.create(
        "a mug on a desk",
        size="4:3",
        n=2,
        resolution="0.5k",
        reference_images=["https://example.com/a.png"],
        google_image_search=True,
    )
    payload = request.to_payload(["https://files.example.com/u/1.png", "https://example.com/a.png"])
    assert payload == {
        "model": "nano-banana-2",
        "prompt": "a mug on a desk",
        "size": "4:3",
        "n": 2,
        "image_urls": ["https://files.example.com/u/1.png", "https://example.com/a.png"],
        "metadata": {"resolution": "0.5K", "google_search": True, "google_image_search": True},
    }
    assert all(isinstance(url, str) for url in payload["image_urls"])
    plain = ImageRequest.create("x").to_payload()
    assert plain == {
        "model": "nano-banana-2",
        "prompt": "x",
        "size": "1:1",
        "n": 1,
        "metadata": {"resolution": "1K"},
    }
    for field in ("reference_images", "resolution", "response_format", "callback_url"):
        assert field not in payload and field not in plain


def test_the_wire_request_carries_our_user_agent_and_the_mapped_fields(sim, out_dir):
    run = generate(
        "a harbour at night",
        size="16:9",
        resolution="0.5K",
        model=API_REFERENCE_MODEL,
        reference_images=[sim.files_url + "/uploads/none.png"],
        base_url=sim.base_url,
        api_key=TEST_KEY,
        output_dir=out_dir,
    )
    task = sim.stats()["tasks"][run.task_id]
    assert (task["size"], task["resolution"], task["n"]) == ("16:9", "0.5K", 1)
    submit = next(h for h in sim.stats()["headers"]["api"] if h[":method"] == "POST")
    assert submit[":path"] == "/v1/images/generations"
    assert submit["user-agent"].startswith("nanobanana-magic/")
    assert "python-httpx" in submit["user-agent"]
    assert submit["content-type"] == "application/json"
    assert submit["authorization"] == f"Bearer {TEST_KEY}"


def test_request_key_depends_on_parameters_and_reference_content(tmp_path):
    first = png_file(tmp_path / "a.png")
    copy = tmp_path / "copy.png"
    copy.write_bytes(first.read_bytes())
    other = png_file(tmp_path / "b.png", color="blue")
    key = ImageRequest.create("x", reference_images=[first]).key()
    assert ImageRequest.create("x", reference_images=[copy]).key() == key
    assert ImageRequest.create("x", reference_images=[other]).key() != key
    assert ImageRequest.create("x", reference_images=[first], size="16:9").key() != key
    assert ImageRequest.create("x", reference_images=[first], variant="b").key() != key


def test_requests_are_frozen_and_replace_validates_again():
    request = ImageRequest.create("x")
    with pytest.raises(AttributeError):
        request.prompt = "y"
    assert request.replace(size="9:16").size == "9:16"
    with pytest.raises(ValidationError, match="Unknown size"):
        request.replace(size="9:15")
