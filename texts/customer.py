"""What customers read from Kefu, in every language it speaks: one entry per text.

The Rasa responses (``utter_*``) stay in domain.yml, where Rasa reads them; everything the
actions, the gateway and the handoff desk say is here. ``{name}`` placeholders are filled by
``texts.say``; every language of a text has the same placeholders (tests/texts).
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # -- the assistant (Rasa actions) --------------------------------------------------------
    "did_this_help": {"en": "Did this help?", "zh": "这个回答有帮助吗？"},
    "helpful": {"en": "Yes, thanks", "zh": "有帮助"},
    "not_helpful": {"en": "No", "zh": "没帮助"},
    "read_more": {"en": "Full article", "zh": "查看全文"},
    "clarify": {
        "en": "Which of these is closest to your question?",
        "zh": "您想问的是下面哪一个？",
    },
    "dont_know": {
        "en": "Sorry, I don't have an answer to that yet. You can rephrase your question, "
        "or talk to a person.",
        "zh": "抱歉，这个问题我暂时无法回答。您可以换个说法再问，或者转人工客服。",
    },
    "dont_know_again": {
        "en": "Sorry, I couldn't find an answer to that one.",
        "zh": "抱歉，这个问题我没有找到答案。",
    },
    "dont_know_queued": {
        "en": "Sorry, I don't have an answer to that. The person who takes your request will "
        "see this question too.",
        "zh": "抱歉，这个问题我暂时无法回答。接待您的人工客服也会看到这个问题。",
    },
    "apology": {
        "en": "I'm sorry about this, and I understand how frustrating it is.",
        "zh": "非常抱歉给您带来了不好的体验，我理解您的心情。",
    },
    "email_given_up": {
        "en": "That still doesn't look like an email address, so let's leave it. Your request "
        "stays in our queue, and an agent will reply here when they're back.",
        "zh": "邮箱地址好像还是不对，那就先不留了。"
        "您的请求已在排队，人工客服上线后会在这里回复您。",
    },
    "talk_to_person": {"en": "Talk to a person", "zh": "转人工客服"},
    "service_down": {
        "en": "Sorry, I can't look that up right now because of a technical problem. "
        "Please try again in a minute, or talk to a person.",
        "zh": "抱歉，系统暂时出了点问题，无法查询。请稍后再试，或者转人工客服。",
    },
    "article_gone": {
        "en": "Sorry, that article is no longer available.",
        "zh": "抱歉，这篇文章已不可用。",
    },
    "glad": {
        "en": "Great, glad it helped! Anything else I can do for you?",
        "zh": "太好了，很高兴能帮到您！还有其他问题吗？",
    },
    "next_candidates": {
        "en": "Sorry about that. Maybe one of these helps?",
        "zh": "抱歉没能帮到您。下面这些是否有帮助？",
    },
    "offer_person": {
        "en": "Sorry I couldn't help. Would you like to talk to a person?",
        "zh": "抱歉没能帮到您。需要为您转接人工客服吗？",
    },
    "connecting": {
        "en": "I'm connecting you with a person. They can see our conversation so far, so you "
        "won't need to repeat yourself.",
        "zh": "正在为您转接人工客服，客服可以看到我们之前的对话，您无需重复描述。",
    },
    "nobody_online": {
        "en": "Sorry, no one from our team is online right now. Leave your email address and "
        "we'll get back to you.",
        "zh": "抱歉，现在暂时没有人工客服在线。请留下您的邮箱，我们会尽快联系您。",
    },
    # Outside business hours with nobody online: when the team is back (the business's time).
    "closed_until": {
        "en": "Sorry, our team is away right now. We're back at {time} on {weekday}. Leave "
        "your email address and we'll get back to you.",
        "zh": "抱歉，现在不在人工客服的服务时间。我们将于{weekday} {time} 回来，"
        "请留下您的邮箱，我们会尽快联系您。",
    },
    # The same, when the team is back more than six days from now (a long holiday).
    "closed_until_date": {
        "en": "Sorry, our team is away right now. We're back at {time} on {weekday}, {date}. "
        "Leave your email address and we'll get back to you.",
        "zh": "抱歉，现在不在人工客服的服务时间。我们将于{date}（{weekday}）{time} 回来，"
        "请留下您的邮箱，我们会尽快联系您。",
    },
    "weekday_mon": {"en": "Monday", "zh": "周一"},
    "weekday_tue": {"en": "Tuesday", "zh": "周二"},
    "weekday_wed": {"en": "Wednesday", "zh": "周三"},
    "weekday_thu": {"en": "Thursday", "zh": "周四"},
    "weekday_fri": {"en": "Friday", "zh": "周五"},
    "weekday_sat": {"en": "Saturday", "zh": "周六"},
    "weekday_sun": {"en": "Sunday", "zh": "周日"},
    "email_invalid": {
        "en": "That doesn't look like an email address. Could you check it?",
        "zh": "这个邮箱地址好像不对，请检查一下。",
    },
    "email_saved": {
        "en": "Thank you. We'll write to {email} as soon as someone is available.",
        "zh": "谢谢！人工客服会尽快通过 {email} 联系您。",
    },
    "email_refused": {
        "en": "Sorry, I couldn't keep {email} as your address. Your request stays in our "
        "queue and an agent will reply here; you can also reach our team every day "
        "9:00–21:00 (UTC+8) on 400-800-1234 or at support@kefu-demo.shop.",
        "zh": "抱歉，无法保存邮箱 {email}。您的请求仍在排队，人工客服会在这里回复您；"
        "您也可以在每天9:00–21:00（北京时间）拨打400-800-1234，或发邮件至support@kefu-demo.shop。",
    },
    "contact_channels": {
        "en": "I'm sorry I couldn't solve this. Our team is available every day 9:00–21:00 "
        "(UTC+8) on 400-800-1234 or at support@kefu-demo.shop, and will take it from here.",
        "zh": "抱歉没能帮您解决。人工客服每天9:00–21:00（北京时间）在线，"
        "电话400-800-1234，邮箱support@kefu-demo.shop，会继续为您处理。",
    },
    "article_only_in": {
        "en": "This article is only available in {language_name}.",
        "zh": "这篇文章只有{language_name}版本。",
    },
    "language_name_en": {"en": "English", "zh": "英文"},
    "language_name_zh": {"en": "Chinese", "zh": "中文"},
    # -- the chat gateway ---------------------------------------------------------------------
    "assistant_down": {
        "en": "Sorry, the assistant is not available right now. Your message is kept: "
        "the answer will follow here as soon as it is back.",
        "zh": "抱歉，智能助手暂时无法使用。您的消息已保存，恢复后会在这里回复您。",
    },
    # -- the handoff desk ---------------------------------------------------------------------
    "queue_position": {
        "en": "You're number {position} in the queue; an agent will be with you shortly.",
        "zh": "您目前排在第 {position} 位，人工客服马上就来。",
    },
    "rating_after_bot": {
        "en": "Glad I could help. How would you rate this chat?",
        "zh": "很高兴能帮到您。请为本次服务打分：",
    },
    "agent_joined": {"en": "{name} has joined the chat.", "zh": "客服 {name} 已接入，为您服务。"},
    "transferred_to_queue": {
        "en": "Your chat is being passed to a colleague. Please stay here; they will see "
        "everything so far.",
        "zh": "您的会话正在转给其他同事，请稍候，他们能看到之前的全部对话。",
    },
    "rating_after_agent": {
        "en": "This chat has been resolved. How would you rate our service?",
        "zh": "本次服务已结束。请为我们的服务打分：",
    },
    "returned_to_bot": {
        "en": "You're back with the virtual assistant. Ask me anything.",
        "zh": "您已回到智能助手，有问题随时问我。",
    },
    # An agent's canned reply says {customer_name}, and the customer gave no name.
    "customer_name_fallback": {"en": "valued customer", "zh": "尊敬的客户"},
    # -- mail (bot/mail/compose.py): Markdown, values filled in as text -----------------------
    "mail_subject": {
        "en": "Your request to {company}",
        "zh": "您向{company}提交的请求",
    },
    "mail_subject_transcript": {
        "en": "Your conversation with {company}",
        "zh": "您与{company}的对话记录",
    },
    "mail_subject_rating": {
        "en": "How did we do? Your request to {company}",
        "zh": "请评价我们的服务：您向{company}提交的请求",
    },
    "mail_greeting": {"en": "Hello,", "zh": "您好，"},
    "mail_confirmation": {
        "en": "We received your request. Someone from our team will reply to this address as "
        "soon as they are available.",
        "zh": "我们已收到您的请求。客服人员上线后会尽快通过这个邮箱回复您。",
    },
    "mail_your_messages": {
        "en": "What you wrote:",
        "zh": "您的留言：",
    },
    "mail_reply_hint": {
        "en": "To add anything, simply reply to this email.",
        "zh": "如需补充，直接回复这封邮件即可。",
    },
    "mail_signature": {"en": "{name}, for {company}", "zh": "{company}客服 {name}"},
    "mail_team": {"en": "The {company} team", "zh": "{company}客服团队"},
    "mail_read_article": {"en": "Read the full article:", "zh": "查看全文："},
    "mail_transcript_intro": {
        "en": "Here is your conversation with {company}, as you asked. Times are UTC.",
        "zh": "这是您与{company}的对话记录。时间为世界协调时（UTC）。",
    },
    "mail_you": {"en": "You", "zh": "您"},
    "mail_assistant": {"en": "Assistant", "zh": "智能助手"},
    "mail_agent": {"en": "Agent", "zh": "客服"},
    "mail_notice": {"en": "Notice", "zh": "提示"},
    "mail_rating": {
        "en": "Your request has been resolved. How did we do? Reply to this email with a "
        "number from 1 (poor) to 5 (excellent), and a comment if you like.",
        "zh": "您的请求已处理完毕。请直接回复这封邮件，用 1（很差）到 5（很好）为我们的服务打分，"
        "也欢迎留下您的意见。",
    },
    # -- the widget's "Email me this conversation" (bot/web/static/widget.js, STRINGS) -------
    "transcript_menu": {"en": "More options", "zh": "更多选项"},
    "transcript_action": {"en": "Email me this conversation", "zh": "把对话发到我的邮箱"},
    "transcript_address": {"en": "Your email address", "zh": "您的邮箱地址"},
    "transcript_send": {"en": "Send", "zh": "发送"},
    "transcript_cancel": {"en": "Cancel", "zh": "取消"},
    "transcript_sent": {
        "en": "We'll send this conversation to {email} in a moment.",
        "zh": "对话记录稍后会发送到 {email}。",
    },
    "transcript_invalid": {
        "en": "Please check the address: we can't send email to it.",
        "zh": "请检查邮箱地址，我们无法发送到这个地址。",
    },
    "transcript_throttled": {
        "en": "This conversation was already emailed several times in the last hour. "
        "Please try again later.",
        "zh": "一小时内已多次发送这段对话，请稍后再试。",
    },
    "transcript_throttled_address": {
        "en": "We've already emailed several conversations to this address today. "
        "Please try again later.",
        "zh": "今天已多次向这个邮箱发送对话记录，请稍后再试。",
    },
    "transcript_off": {
        "en": "Sorry, we can't send email at the moment.",
        "zh": "抱歉，目前无法发送邮件。",
    },
    "transcript_retry": {
        "en": "Sorry, we couldn't send the conversation. Please try again.",
        "zh": "抱歉，对话记录发送失败，请重试。",
    },
}
