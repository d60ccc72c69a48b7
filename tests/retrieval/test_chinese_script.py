import pytest

from retrieval.chinese_script import in_script, script_of, to_simplified, to_traditional


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("我想退貨", "我想退货"),
        ("訂單還沒到", "订单还没到"),
        # Taiwan phrasing, not only characters: the words the Simplified articles use.
        ("網路", "网络"),
        ("軟體更新", "软件更新"),
        ("帳號", "账号"),
        ("帳戶", "账户"),
        ("退款還沒到帳", "退款还没到账"),
    ],
    ids=["returns", "order", "network", "software", "account-number", "account", "credited"],
)
def test_traditional_is_searched_in_simplified_words(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified


@pytest.mark.parametrize("text", ["我想退货", "账号登录不了", "网络连接失败", "退款多久到账"])
def test_simplified_passes_through_unchanged(text: str) -> None:
    assert to_simplified(text) == text


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("我想退貨", "hant"),
        ("我的帳號登不進去", "hant"),
        ("我想退货", "hans"),
        ("你好", "hans"),  # characters both scripts write alike
        ("Where is my order?", "hans"),
        ("", "hans"),
    ],
)
def test_script_of_tells_traditional_from_everything_else(text: str, script: str) -> None:
    assert script_of(text) == script


def test_an_answer_is_shown_in_traditional_to_a_traditional_reader() -> None:
    assert in_script("收货后30天内可以退货。", "hant") == "收貨後30天內可以退貨。"
    assert in_script("收货后30天内可以退货。", "hans") == "收货后30天内可以退货。"
    assert to_traditional("账号设置") == "賬號設置"


def test_in_script_keeps_markdown_links_and_latin_text_intact() -> None:
    link = "[申请退货](/articles/returns-policy-zh)"
    answer = f"请在**我的订单**里点击{link}，或发邮件到 help@kefu.example。"
    converted = in_script(answer, "hant")
    assert converted == (
        "請在**我的訂單**裏點擊[申請退貨](/articles/returns-policy-zh)，"
        "或發郵件到 help@kefu.example。"
    )
    assert in_script("Apple ID and iPhone 15 Pro", "hant") == "Apple ID and iPhone 15 Pro"
