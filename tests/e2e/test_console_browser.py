"""The local console (GET /) in a real headless Chromium, driven by Playwright: a burst typed in the composer, its
quiet-deadline countdown moving and reset by each message, the answer in the conversation's timeline, and a fixture
replayed from the page.

Chromium is Debian's (/usr/bin/chromium, installed by the Makefile's browser stamp), never a Playwright download.
The screenshot goes to CONSOLE_SCREENSHOT (default build/console.png); docs/console.png is one of them, optimized.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect, sync_playwright

from tests.e2e.conftest import REPLAY_ENV, REPO, Server, _running

pytestmark = [pytest.mark.xdist_group("e2e-console"), pytest.mark.slow]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
SCREENSHOT = Path(os.environ.get("CONSOLE_SCREENSHOT") or REPO / "build" / "console.png")
USER = "15550001234"
SCREENSHOT_USER = "15550001235"
REPLAY_FIXTURE = "telegram-burst.json"  # short (1.4 s of messages), one expectation
# The page's own waits: long enough for a burst's debounce (2 s: REPLAY_ENV, the fixtures' settings) and its answer
# on a loaded machine; they return as soon as the page shows what is awaited.
WAIT_MS = 20_000
# The next message is sent once the countdown shows less than this: its deadline (the arrival plus 2 s, rounded up
# to the second) is then a later second than the one shown, so the countdown visibly resets.
RESEND_BELOW_SECONDS = 1.4
COUNTDOWN_TEXT = re.compile(r"^in \d+\.\d s$")  # "in 1.8 s"
QUIET_COUNTDOWN = 'article.conversation[data-channel="whatsapp"][data-recipient="{user}"] .countdown.quiet'


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh server of its own, with the fixtures' settings, so the page shows only this module's conversations."""
    with _running(tmp_path_factory.mktemp("e2e-console-server"), {"console": REPLAY_ENV}) as started:
        yield started["console"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One headless Chromium tab, with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test-wait` installs Debian's chromium (apt-get install chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def open_console(page: Page, server: Server) -> None:
    """Load the console and wait for the stream's first snapshot."""
    page.goto(server.base + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#connection")).to_have_text("Live")


def send(page: Page, text: str) -> None:
    """Type one message in the composer and press Enter, as a person does; wait for the webhook's answer."""
    message = page.get_by_label("Message", exact=True)
    message.fill(text)
    message.press("Enter")
    expect(page.locator("#compose-status")).to_have_text("Sent to WhatsApp: the webhook answered 200.")
    expect(message).to_have_value("")


def remaining(countdown: Locator) -> float:
    """The seconds the countdown shows (negative when late)."""
    return float(countdown.get_attribute("data-remaining") or "nan")


def wait_countdown(page: Page, selector: str, condition: str, value: float) -> None:
    """Wait until the countdown's remaining seconds satisfy `condition` (a JS comparison with `value`)."""
    page.wait_for_function(
        f"([selector, value]) => {{ const node = document.querySelector(selector);"
        f" return node !== null && node.dataset.remaining !== undefined && Number(node.dataset.remaining) {condition}"
        " value; }",
        arg=[selector, value],
    )


def test_a_burst_typed_in_the_console_counts_down_resets_and_is_answered(console_server: Server, page: Page) -> None:
    # GIVEN the console, live
    open_console(page, console_server)
    page.get_by_label("Channel", exact=True).select_option("whatsapp")
    page.get_by_label("Conversation (user id)", exact=True).fill(USER)
    countdown_selector = QUIET_COUNTDOWN.format(user=USER)
    card = page.locator(f'article.conversation[data-channel="whatsapp"][data-recipient="{USER}"]')
    countdown = page.locator(countdown_selector)

    # WHEN a first message is sent, THEN its quiet deadline counts down
    send(page, "hi, I need")
    expect(card.locator('.timeline li[data-kind="message"]')).to_have_count(1)
    expect(countdown).to_have_text(COUNTDOWN_TEXT)
    wait_countdown(page, countdown_selector, "<", remaining(countdown) - 0.2)

    # WHEN two more messages follow inside the window, THEN each moves the deadline later and resets the countdown
    for count, text in ((2, "to move my appointment"), (3, "to friday, please")):
        wait_countdown(page, countdown_selector, "<", RESEND_BELOW_SECONDS)
        deadline = countdown.get_attribute("data-deadline") or ""
        before, shown_at = page.evaluate(
            "(selector) => [Number(document.querySelector(selector).dataset.remaining), performance.now()]",
            countdown_selector,
        )
        send(page, text)
        expect(card.locator('.timeline li[data-kind="message"]')).to_have_count(count)
        expect(countdown).not_to_have_attribute("data-deadline", deadline)
        assert float(countdown.get_attribute("data-deadline") or "nan") > float(deadline)
        # Reset: the countdown stands well above where the old one would be by now (the new deadline is at least a
        # whole second later), however long the loaded machine took to deliver and show the message
        page.wait_for_function(
            "([selector, before, shownAt]) => { const node = document.querySelector(selector);"
            " return node !== null && node.dataset.remaining !== undefined"
            " && Number(node.dataset.remaining) > before - (performance.now() - shownAt) / 1000 + 0.5; }",
            arg=[countdown_selector, before, shown_at],
        )

    # THEN, once the window closes, the three messages are one burst, claimed and answered, its part sent
    answered = card.locator('.timeline li[data-kind="answered"]')
    expect(answered).to_have_count(1)
    expect(card.locator('.timeline li[data-kind="claimed"]')).to_contain_text("claimed 3 messages")
    expect(card.locator('.timeline li[data-kind="part_sent"]').first).to_be_visible()
    bursts = card.locator('.timeline li[data-kind="message"]').evaluate_all("items => items.map(i => i.dataset.burst)")
    assert len(set(bursts)) == 1, bursts
    assert answered.get_attribute("data-burst") == bursts[0]
    expect(answered).to_contain_text("to friday, please")  # the echo provider answers with the burst's text
    expect(card.locator(".open-burst")).to_have_attribute("data-state", "idle")


def test_a_fixture_replayed_from_the_console_passes(console_server: Server, page: Page) -> None:
    # GIVEN the console and its list of fixtures
    open_console(page, console_server)
    fixture = page.get_by_label(REPLAY_FIXTURE, exact=True)

    # WHEN one is picked and played at real speed
    fixture.check()
    page.get_by_label("Speed", exact=True).select_option("1")
    page.get_by_role("button", name="Play").click()

    # THEN its expectation runs, then passes on its burst, and the replay as a whole passes
    run = page.locator("section.replay-run").first
    row = run.locator(f'li[data-file="{REPLAY_FIXTURE}"]')
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "passed")
    expect(row).to_contain_text("✓ passed")
    expect(run).to_have_attribute("data-status", "passed")
    # and the replayed conversation appears, answered, among the live ones
    replayed = page.locator('article.conversation[data-channel="telegram"]')
    expect(replayed.locator('.timeline li[data-kind="answered"]').first).to_be_visible()

    save_screenshot(page)


def save_screenshot(page: Page) -> None:
    """The artifact (CONSOLE_SCREENSHOT): the page as it stands, plus a new conversation's burst counting down."""
    page.get_by_label("Conversation (user id)", exact=True).fill(SCREENSHOT_USER)
    send(page, "is the 9:30 slot still free?")
    countdown = page.locator(QUIET_COUNTDOWN.format(user=SCREENSHOT_USER))
    expect(countdown).to_have_text(COUNTDOWN_TEXT)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.evaluate("() => window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.set_viewport_size(VIEWPORT)


def test_the_console_is_labelled_and_one_column_when_narrow(console_server: Server, page: Page) -> None:
    open_console(page, console_server)
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select, textarea')].filter(c => c.labels.length === 0)"
        ".map(c => c.id || c.name)"
    )
    assert unlabelled == []
    page.set_viewport_size({"width": 600, "height": 900})
    try:
        composer = page.locator("section.composer").bounding_box()
        conversations = page.locator("section.conversations").bounding_box()
        assert composer is not None and conversations is not None
        assert conversations["y"] >= composer["y"] + composer["height"]  # below it, not beside it
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    finally:
        page.set_viewport_size(VIEWPORT)
