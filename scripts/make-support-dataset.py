#!/usr/bin/env python3
"""Writes examples/data/: customer-support chats for a fictional product, for `npm run demo`.

  customer-support.jsonl          384 training conversations (24 kinds of request x 16)
  customer-support-heldout.jsonl  24 held-out questions (phrasings no training row uses) with their answers
  help-center.txt                 41 help-center articles; scripts/make-tiny-model.py pre-trains the base on them

The product is "Acme Cloud Storage" (made up for loraplane; every URL is under the reserved
example domains). Each conversation is a system prompt, one customer message and one answer, in the
`messages` format that the trainer reads.

The rows come from hand-written templates: for each kind of request (password reset, refund, 2FA, API
limits, shipping, ...) a handful of ways a customer might ask, and ONE answer template. The answer to
a kind of request always has the same structure and differs only in the slots the customer mentioned
(plan, order number, device, country, file name), so a tiny model can visibly pick up the pattern in a
short fine-tune. All product facts (prices, quotas, rate limits, delivery times) come from the tables
below, so answers never contradict each other.

Deterministic: a fixed seed, no clock, no network. Only the Python standard library.

    python3 scripts/make-support-dataset.py            # writes the three files in examples/data/
    python3 scripts/make-support-dataset.py --check    # exits 1 if a committed file differs
"""
from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
from pathlib import Path

SEED = 20240611
ROWS_PER_INTENT = 16
OUT = Path(__file__).resolve().parent.parent / "examples" / "data" / "customer-support.jsonl"

SYSTEM = "You are the support assistant for Acme Cloud Storage."

# Product facts: every answer draws from these, so the dataset is consistent.
PLANS = {
    "Basic": {"storage": "200 GB", "price": "$3", "rate": "60", "maxfile": "5 GB"},
    "Plus": {"storage": "2 TB", "price": "$10", "rate": "300", "maxfile": "50 GB"},
    "Pro": {"storage": "5 TB", "price": "$18", "rate": "1,000", "maxfile": "250 GB"},
    "Business": {"storage": "10 TB", "price": "$45", "rate": "5,000", "maxfile": "250 GB"},
}
DELIVERY = {
    "the United States": "2 to 4 business days",
    "Canada": "3 to 5 business days",
    "the UK": "4 to 6 business days",
    "Germany": "4 to 6 business days",
    "France": "4 to 6 business days",
    "Spain": "5 to 7 business days",
    "Japan": "6 to 9 business days",
    "Australia": "7 to 10 business days",
    "Brazil": "8 to 12 business days",
    "India": "7 to 10 business days",
}
NAMES = ["Priya", "Marcus", "Elena", "Tom", "Aiko", "Jamal", "Sofia", "Liam", "Fatima", "Noah", "Chen", "Olga",
         "Diego", "Grace", "Ravi", "Hannah", "Kwame", "Lucia", "Ben", "Mei", "Omar", "Zoe", "Ivan", "Nina"]
DEVICES = ["iPhone", "Android phone", "Windows laptop", "Mac", "iPad", "Linux desktop", "Chromebook"]
FILES = ["thesis.docx", "budget-2024.xlsx", "wedding photos folder", "invoice_march.pdf", "project-notes.txt",
         "vacation.mp4", "tax return PDF", "family-recipes.doc", "design mockups folder", "client-contracts.zip"]
FEATURES = ["the web app", "the desktop app", "file sync", "the upload page", "the mobile app", "photo preview"]
ISSUE_TIME = ["since this morning", "for about an hour", "for the last 20 minutes", "since lunch", "all day"]


def order_no(rng: random.Random) -> str:
    return f"AV-{rng.randint(10000, 99999)}"


def email(rng: random.Random, name: str) -> str:
    domain = rng.choice(["example.com", "example.org", "example.net"])
    style = rng.randrange(3)
    return {0: f"{name.lower()}@{domain}", 1: f"{name.lower()}.{rng.randint(1, 99)}@{domain}", 2: f"{name[0].lower()}{rng.choice('kmrst')}{rng.randint(10, 99)}@{domain}"}[style]


# intent -> (user templates, answer template, slot picker). {placeholders} are filled from the slots.
def plan_slots(rng: random.Random, exclude: str | None = None) -> dict:
    plan = rng.choice([p for p in PLANS if p != exclude])
    return {"plan": plan, **PLANS[plan]}


INTENTS: dict[str, tuple[list[str], str, callable]] = {
    "password_reset": (
        [
            "I forgot my password. How do I reset it?",
            "I can't log in anymore, I think I forgot my password.",
            "How do I reset the password for {email}?",
            "My password isn't working and I need to get into my account today.",
            "Can you help me change my password? I don't remember the old one.",
            "I'm locked out of my account, the password keeps getting rejected.",
            "What's the process for resetting a forgotten password?",
            "The login page says my password is wrong, but I'm sure it's right.",
            "Where do I go to set a new password?",
            "I need a password reset link for {email}.",
            "Password reset please.",
            "I typed my password wrong too many times and now I can't sign in.",
        ],
        "To reset your password, go to acme.example/reset and enter the email address on your account. "
        "We'll send you a reset link that stays valid for 30 minutes.",
        lambda rng, name: {"email": email(rng, name)},
    ),
    "refund": (
        [
            "I'd like a refund for my {plan} subscription.",
            "I was charged {price} for the {plan} plan but I don't want it anymore. Can I get my money back?",
            "Can I get a refund? I upgraded to {plan} by mistake.",
            "How do I request a refund for last month's {plan} charge?",
            "I'm not happy with the {plan} plan, please refund me.",
            "Is it possible to get a refund on the {price} I paid for {plan}?",
            "Please refund my last {plan} payment.",
            "I cancelled {plan} right after paying {price}. Can I have that refunded?",
            "What's your refund policy? I'd like the {price} for {plan} back.",
            "Refund for {plan}, please.",
            "I'd like to be reimbursed for the {plan} plan.",
        ],
        "I'm sorry the {plan} plan didn't work out for you. Refunds are available within 30 days of a charge, "
        "so reply with your invoice number and we'll return the {price} to your original payment method within 5 to 7 business days.",
        lambda rng, name: plan_slots(rng),
    ),
    "double_charge": (
        [
            "I was charged twice this month for {plan}.",
            "Why do I see two charges of {price} on my card?",
            "My bank statement shows a duplicate Acme payment of {price}.",
            "You billed me two times for the {plan} plan, what happened?",
            "There are two identical charges from Acme Cloud Storage on my credit card.",
            "I think I paid twice for {plan} this month.",
            "Two payments of {price} went out for one subscription.",
            "Why was I billed twice for {plan}?",
            "Double charge on my account for {plan}.",
            "I see the {price} payment twice on my bank statement.",
        ],
        "Sorry for the confusion! A second charge is usually a temporary authorization hold that disappears within 3 business days. "
        "If both charges are still there after that, send us the invoice numbers and we'll refund the duplicate.",
        lambda rng, name: plan_slots(rng),
    ),
    "upgrade": (
        [
            "How do I upgrade to the {plan} plan?",
            "I want to move up to {plan}. What do I get and how much is it?",
            "I'm running out of space. Can I switch to {plan}?",
            "What happens to my bill if I upgrade to {plan} in the middle of the month?",
            "Please upgrade my account to {plan}.",
            "Thinking about getting {plan}, how does the upgrade work?",
            "What does it cost to go to {plan}?",
            "I need more space, how do I get {plan}?",
            "Can I upgrade my plan to {plan} today?",
            "Upgrade to {plan}, please.",
            "Is switching from Basic to {plan} easy?",
        ],
        "You can upgrade to {plan} anytime under Settings > Plan. It gives you {storage} of storage for {price} a month, "
        "and for the current cycle we only charge the prorated difference.",
        lambda rng, name: plan_slots(rng, exclude="Basic"),
    ),
    "downgrade": (
        [
            "How do I downgrade to the {plan} plan?",
            "I don't need this much storage anymore, can I move to {plan}?",
            "I want to switch to the cheaper {plan} plan.",
            "Can I go down to {plan} without losing my files?",
            "Please downgrade me to {plan} starting next month.",
            "How do I move to a smaller plan like {plan}?",
            "I want to reduce my plan to {plan} to save money.",
            "Can I change my subscription down to {plan}?",
            "Downgrade to {plan}, please.",
            "Pro is too expensive for me, can I go to {plan}?",
        ],
        "You can switch to {plan} under Settings > Plan, and the change takes effect at the start of your next billing cycle. "
        "Just make sure your files fit in {storage} first, otherwise new uploads will pause.",
        lambda rng, name: plan_slots(rng, exclude="Business"),
    ),
    "cancel": (
        [
            "How do I cancel my subscription?",
            "I want to cancel my {plan} plan.",
            "Please cancel my account's paid plan, I don't need it anymore.",
            "Where is the button to stop my {plan} subscription?",
            "If I cancel {plan}, do I lose my files right away?",
            "I'd like to end my subscription before the next renewal.",
            "I don't want to renew my {plan} plan.",
            "How do I stop being charged every month?",
            "Can I cancel {plan} and still keep my files?",
            "Cancel my subscription, please.",
            "How do I turn off auto-renewal for {plan}?",
        ],
        "You can cancel anytime under Settings > Plan > Cancel subscription. "
        "You keep your paid features until the end of the current billing period, and your files stay available on the free tier.",
        lambda rng, name: plan_slots(rng),
    ),
    "delete_account": (
        [
            "How do I delete my account?",
            "I want to permanently delete my Acme account and all my data.",
            "Please close my account, I'm moving to another service.",
            "Can you remove my account {email} completely?",
            "What's the process for deleting my account for good?",
            "I need my account erased under GDPR.",
            "How can I close my account permanently?",
            "I want you to erase my account and all the data you have on me.",
            "I no longer use Acme, how do I remove my account?",
            "Account deletion, please.",
            "I'd like to close my Acme account and have my data removed.",
        ],
        "You can delete your account under Settings > Account > Delete account. We'll email you a confirmation link, "
        "and everything is permanently erased 14 days after you confirm, so export anything you want to keep first.",
        lambda rng, name: {"email": email(rng, name)},
    ),
    "export": (
        [
            "How can I download all my files at once?",
            "I need to export all my data from Acme.",
            "Is there a way to get a full backup of everything in my account?",
            "Can I export my files before I close my account?",
            "How do I get a copy of all my data?",
            "I want to move all my files to my {device}, is there a bulk download?",
            "What's the easiest way to back up all my Acme files?",
            "Can I get all my data in one download?",
            "I'm leaving Acme, how do I take my files with me?",
            "Export my data, please.",
            "Is there a takeout option to save all my files?",
        ],
        "To export your data, go to Settings > Account > Export data. "
        "We'll prepare a ZIP archive of all your files and email you a download link within 24 hours.",
        lambda rng, name: {"device": rng.choice(DEVICES)},
    ),
    "2fa_setup": (
        [
            "How do I turn on two-factor authentication?",
            "I want to set up 2FA with my {device}.",
            "Does Acme support two-step verification? How do I enable it?",
            "How can I make my account more secure with 2FA?",
            "Where do I enable two-factor login?",
            "Can I use an authenticator app on my {device} for Acme?",
            "I'd like to add an extra security step when I log in.",
            "Where are the 2FA settings?",
            "How do I link an authenticator app to my account?",
            "I need help setting up 2FA.",
            "Can I protect my login with a code from my {device}?",
        ],
        "To turn on two-factor authentication, go to Settings > Security > Two-factor authentication and scan the QR code with an authenticator app. "
        "Save the backup codes somewhere safe in case you lose your {device}.",
        lambda rng, name: {"device": rng.choice(["iPhone", "Android phone", "iPad"])},
    ),
    "2fa_lost": (
        [
            "I lost my phone and can't get my 2FA code.",
            "I got a new {device} and my authenticator codes are gone.",
            "My 2FA app was reset and now I'm locked out.",
            "I can't sign in because I don't have my two-factor device anymore.",
            "How do I get into my account without my authenticator? I switched to a new {device}.",
            "I can't receive my two-factor codes anymore.",
            "My authenticator app is gone, how can I log in?",
            "I replaced my {device} and lost my 2FA setup.",
            "Lost my 2FA device.",
            "My {device} was stolen and it had my authenticator on it.",
        ],
        "If you lost your authenticator, sign in with one of your backup codes and set up 2FA again on your new {device}. "
        "If you don't have backup codes, email support@acme.example with a photo ID and we'll verify your identity within 2 business days.",
        lambda rng, name: {"device": rng.choice(["iPhone", "Android phone", "iPad"])},
    ),
    "api_limits": (
        [
            "What are the API rate limits on the {plan} plan?",
            "I keep getting HTTP 429 from the API. I'm on {plan}.",
            "How many API requests per minute can I make with {plan}?",
            "Our integration is being throttled, we have the {plan} plan.",
            "Is there a limit on API calls for {plan} accounts?",
            "Why does the API say too many requests? We pay for {plan}.",
            "What's the request limit for the API on {plan}?",
            "How fast can I call your API with a {plan} subscription?",
            "Do {plan} accounts have API throttling?",
            "API rate limit for {plan}?",
            "What's the maximum number of API calls per minute on {plan}?",
        ],
        "The {plan} plan allows {rate} API requests per minute. "
        "If you go over, the API returns HTTP 429 with a Retry-After header, so wait that many seconds before retrying.",
        lambda rng, name: plan_slots(rng),
    ),
    "outage": (
        [
            "Is Acme down? {feature} hasn't worked {when}.",
            "{feature} has been failing {when}, is there an outage?",
            "Are you having problems right now? {feature} keeps failing.",
            "Nothing has loaded for me {when}. Is the service down?",
            "Is there a known issue with {feature} today?",
            "Everything is really slow {when}, is something wrong on your side?",
            "I keep getting errors from {feature}. Is the service having problems?",
            "Is there an outage right now?",
            "Service down?",
            "Nothing works {when}. Are your servers down?",
        ],
        "Sorry for the trouble! You can check live service status at status.acme.example, "
        "and during an incident we post an update there every 30 minutes.",
        lambda rng, name: {"feature": rng.choice(FEATURES), "when": rng.choice(ISSUE_TIME)},
    ),
    "shipping": (
        [
            "When will my Acme Vault order {order} arrive? I'm in {country}.",
            "I ordered an Acme Vault, order {order}. How long is shipping to {country}?",
            "Where is my order {order}? It's going to {country}.",
            "Has order {order} shipped yet? Delivery address is in {country}.",
            "How long does delivery to {country} take for order {order}?",
            "Can you tell me when order {order} to {country} will be delivered?",
            "What's the delivery time to {country}? My order number is {order}.",
            "I'm waiting for my Acme Vault, order {order}, shipping to {country}.",
            "Tracking for order {order} to {country}?",
            "My order {order} hasn't arrived in {country} yet.",
        ],
        "Your order {order} ships within 2 business days, and delivery to {country} usually takes {days}. "
        "You'll get a tracking link by email as soon as it leaves our warehouse.",
        lambda rng, name: (lambda c: {"order": order_no(rng), "country": c, "days": DELIVERY[c]})(rng.choice(list(DELIVERY))),
    ),
    "storage_full": (
        [
            "It says my storage is full. I'm on {plan}.",
            "How much space do I get with {plan}? I'm out of room.",
            "My uploads stopped because I hit my storage limit on the {plan} plan.",
            "I'm getting a storage full warning on my {plan} account. How can I free up space?",
            "Why can't I upload anything? The app says my {plan} storage is full.",
            "I'm out of storage on my {plan} plan.",
            "How do I make room in my {plan} account?",
            "My {plan} account says there's no space left.",
            "Storage full on {plan}.",
            "I'm at 100 percent of my {plan} quota.",
        ],
        "Your {plan} plan includes {storage} of storage. To free up space, empty the trash under Files > Trash, "
        "or upgrade your plan under Settings > Plan.",
        lambda rng, name: plan_slots(rng),
    ),
    "sync": (
        [
            "My files aren't syncing on my {device}.",
            "The Acme app on my {device} is stuck on syncing.",
            "Changes I make on my {device} don't show up on my other computers.",
            "Sync stopped working on my {device} yesterday.",
            "Files I upload from my {device} never appear in the web app.",
            "Why is my {device} not syncing with Acme?",
            "The sync icon on my {device} just keeps spinning.",
            "My {device} shows old versions of my files.",
            "Acme isn't syncing on my {device}, what can I do?",
            "Sync broken on my {device}.",
            "New files from my {device} aren't being uploaded.",
        ],
        "Please make sure the Acme app on your {device} is updated to the latest version, then sign out and sign back in. "
        "If files still don't sync, send us the logs from Settings > Help > Send logs.",
        lambda rng, name: {"device": rng.choice(DEVICES)},
    ),
    "share": (
        [
            "How do I share a file with someone who doesn't have Acme?",
            "Can I send my {file} to a coworker?",
            "What's the best way to share the {file} with my family?",
            "How do I create a share link for the {file}?",
            "Is it possible to password protect a shared link?",
            "How do I give someone access to my {file}?",
            "Can I share a folder with people outside my company?",
            "How do I make a link for the {file} that expires?",
            "How do I share the {file}?",
            "Can someone without an account open a file I share?",
        ],
        "To share a file, right-click it, choose Share, and either enter the person's email or copy a link. "
        "You can set links to expire and protect them with a password.",
        lambda rng, name: {"file": rng.choice(FILES)},
    ),
    "restore": (
        [
            "I accidentally deleted my {file}. Can I get it back?",
            "How do I recover the {file} I deleted yesterday?",
            "Is there a way to restore deleted files? I lost my {file}.",
            "Oops, I removed the {file} by mistake.",
            "Where do deleted files go? I need my {file} back.",
            "Can I undelete the {file}?",
            "The {file} disappeared after I deleted it. How do I restore it?",
            "Is the {file} I deleted last week gone forever?",
            "Restore the {file}, please.",
            "I emptied a folder and the {file} was in it. Can I get it back?",
        ],
        "Deleted files stay in Files > Trash for 30 days, so you can restore your {file} from there. "
        "After 30 days they are removed permanently.",
        lambda rng, name: {"file": rng.choice(FILES)},
    ),
    "change_email": (
        [
            "How do I change the email on my account?",
            "I need to update my login email to {email}.",
            "Can I switch my account email to {email}?",
            "I have a new email address. How do I update it in Acme?",
            "My old work email is gone, how do I change it to {email}?",
            "Where do I update the email address I use to sign in?",
            "Please change my account email to {email}.",
            "I want to use {email} for my Acme login instead.",
            "Change my email to {email}, please.",
            "How do I move my account to a different email address?",
        ],
        "You can change your email under Settings > Account > Email. "
        "We'll send a confirmation link to the new address, and the change applies as soon as you click it.",
        lambda rng, name: {"email": email(rng, name)},
    ),
    "invoices": (
        [
            "Where can I find my invoices?",
            "I need a receipt for my {plan} subscription for my accountant.",
            "How do I download an invoice with my company's VAT number?",
            "Can you send me the invoice for last month?",
            "Where do I get billing receipts for the {plan} plan?",
            "I need a PDF invoice for my {plan} plan.",
            "How do I get copies of my past invoices?",
            "Can I add my company name to my {plan} invoices?",
            "Invoice for {plan}, please.",
            "I need receipts for my expense report.",
        ],
        "You can download all your invoices under Settings > Billing > Invoices. "
        "Each one is a PDF, and it includes your company name and VAT number if you add them on the same page.",
        lambda rng, name: plan_slots(rng),
    ),
    "card_declined": (
        [
            "My card was declined for the {plan} renewal.",
            "I got an email saying my payment failed. What should I do?",
            "How do I update my credit card? The {price} charge didn't go through.",
            "My payment for {plan} bounced, will I lose access?",
            "I need to change the card you bill for my subscription.",
            "My {plan} payment didn't go through.",
            "Where do I enter a new card? My old one expired.",
            "The {price} payment was declined, what happens to my account?",
            "Payment failed for {plan}.",
            "How do I replace the credit card on my account?",
        ],
        "When a payment fails, we retry the charge automatically after 3 days and your account keeps working in the meantime. "
        "You can update your card under Settings > Billing > Payment method.",
        lambda rng, name: plan_slots(rng),
    ),
    "pricing": (
        [
            "How much does the {plan} plan cost?",
            "What do I get with {plan}?",
            "What's the price of {plan} and how much storage is included?",
            "Can you tell me about the {plan} plan?",
            "Is {plan} cheaper if I pay yearly?",
            "What does {plan} include?",
            "Tell me the price and storage for {plan}.",
            "How much storage comes with {plan}, and what does it cost?",
            "Price of {plan}?",
            "Is {plan} worth it? How much space and what price?",
        ],
        "The {plan} plan costs {price} a month and includes {storage} of storage. "
        "If you pay yearly, you get two months free.",
        lambda rng, name: plan_slots(rng),
    ),
    "file_size": (
        [
            "What's the maximum file size I can upload on {plan}?",
            "My big video won't upload. I'm on the {plan} plan.",
            "Is there an upload size limit for {plan}?",
            "I can't upload a large file, it fails every time. My plan is {plan}.",
            "How big can a single file be with {plan}?",
            "Is there a file size limit on the {plan} plan?",
            "Why can't I upload a really large file on {plan}?",
            "What's the upload limit per file for {plan}?",
            "Max file size on {plan}?",
            "My upload fails with file too large on {plan}.",
        ],
        "On the {plan} plan, each file can be up to {maxfile}. "
        "For larger files, the Pro and Business plans allow up to 250 GB per file.",
        lambda rng, name: plan_slots(rng, exclude="Pro"),
    ),
    "thanks": (
        [
            "Thanks, that worked!",
            "Great, thank you so much for the help.",
            "Perfect, that fixed it. Thanks!",
            "Awesome, thanks for the quick answer.",
            "That's all I needed, thank you.",
            "Got it, thanks a lot.",
            "Okay, I found the setting. Thank you!",
            "That solved my problem, cheers!",
            "Thank you, everything works again.",
            "Brilliant, thanks for explaining.",
            "It's working now, thanks for your patience.",
            "Many thanks, that was really helpful.",
            "Thanks, I'll try that now.",
            "Okay, that makes sense. Thank you!",
            "Appreciate the help, have a nice day.",
            "Cool, thanks!",
            "Thanks for sorting that out so quickly.",
        ],
        "You're welcome, glad I could help! Is there anything else I can do for you?",
        lambda rng, name: {},
    ),
    "off_topic": (
        [
            "Can you write me a poem about the ocean?",
            "What's the weather going to be like tomorrow?",
            "Who won the football game last night?",
            "Can you help me with my math homework?",
            "What's a good recipe for dinner tonight?",
            "Tell me a joke about cats.",
            "Can you translate this sentence into French for me?",
            "What's the capital of Australia?",
            "Do you know any good books to read?",
            "Write a haiku about autumn.",
            "Which stock should I buy this week?",
        ],
        "I'm sorry, I can only help with questions about Acme Cloud Storage. "
        "Is there anything about your account, billing, or files I can help with?",
        lambda rng, name: {},
    ),
}

# Light variation around the core request, so phrasings don't repeat verbatim.
OPENERS = ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Hi there, ", "Good morning, ", "Hi, this is {name}. "]
CLOSERS = ["", "", "", "", " Thanks!", " Thank you.", " Thanks in advance."]
STATEMENT_CLOSERS = CLOSERS + [" Please help.", " Can you help?"]  # after a statement, not after a question or a "Please ..."
# An answer slot the customer didn't mention gets a neutral word instead of an invented detail.
ANSWER_DEFAULTS = {"device": "phone"}
NO_OPENER = {"thanks"}
# Answer slots that follow from a slot the customer did mention (a plan's price and quota, a country's delivery time).
IMPLIED = {"plan": {"storage", "price", "rate", "maxfile"}, "country": {"days"}}


def sentence_case_after(opener: str, text: str) -> str:
    """After "Hi, " the request continues the sentence: lower-case its first letter unless it's "I" or a name."""
    if not opener or opener.endswith(". "):
        return text
    first = text.split(" ", 1)[0]
    if first in {"I", "I'm", "I'd", "I've"} or first.startswith("{") or first in PLANS or first == "Acme":
        return text
    return text[0].lower() + text[1:]


# Help-center articles: the product documentation, in an impersonal reference style (no "you", no chat).
# scripts/make-tiny-model.py pre-trains the tiny base model on these and on the customers' questions, never
# on the answers, so the fine-tune still has to teach it to answer a customer in the support style.
HELP_CENTER = [
    "Acme Cloud Storage keeps files safe in the cloud and in sync across phones, tablets and computers.",
    "Forgotten passwords are reset at acme.example/reset. The reset link is sent to the email address on the account and is valid for 30 minutes.",
    "A password must have at least 10 characters. Changing it signs out every other device.",
    "Refunds: a charge can be refunded within 30 days. Refunds go back to the original payment method and take 5 to 7 business days.",
    "Duplicate charges are usually temporary authorization holds. A hold disappears within 3 business days; a real duplicate is refunded once support has the invoice numbers.",
    "Plans are changed under Settings > Plan. An upgrade starts right away, and only the prorated difference is charged for the current cycle.",
    "A downgrade takes effect at the start of the next billing cycle. If the files no longer fit in the new quota, new uploads pause until space is freed.",
    "A subscription can be cancelled at any time under Settings > Plan > Cancel subscription. Paid features stay active until the end of the billing period, and the files remain available on the free tier.",
    "Account deletion is started under Settings > Account > Delete account. A confirmation link is emailed, and all data is permanently erased 14 days after confirmation.",
    "Data export is under Settings > Account > Export data. The export is a ZIP archive of all files, and the download link is emailed within 24 hours.",
    "Two-factor authentication is turned on under Settings > Security > Two-factor authentication by scanning a QR code with an authenticator app.",
    "Backup codes are shown once when two-factor authentication is set up. Each backup code works one time and should be stored somewhere safe.",
    "Without an authenticator or backup codes, identity is verified by email to support@acme.example with a photo ID, within 2 business days.",
    "API requests are rate limited per minute. Over the limit, the API answers HTTP 429 with a Retry-After header that gives the number of seconds to wait.",
    "Live service status is published at status.acme.example. During an incident, an update is posted every 30 minutes.",
    "The Acme Vault is a home backup device sold by Acme. Orders ship within 2 business days, and a tracking link is emailed when the order leaves the warehouse.",
    "Deleted files are kept in Files > Trash for 30 days and can be restored from there. After 30 days they are removed permanently.",
    "Emptying the trash under Files > Trash frees up storage space right away.",
    "The desktop and mobile apps sync changes automatically. Sync problems are usually fixed by updating the app and signing out and back in.",
    "Sync logs are sent to support from Settings > Help > Send logs.",
    "Files and folders are shared from the Share menu, with an email invitation or a link. Links can expire on a chosen date and can be protected with a password.",
    "The login email is changed under Settings > Account > Email. The change applies once the confirmation link sent to the new address is clicked.",
    "Invoices are PDFs listed under Settings > Billing > Invoices. A company name and a VAT number added on that page appear on every invoice.",
    "When a payment fails, the charge is retried automatically after 3 days and the account keeps working in the meantime. The card is updated under Settings > Billing > Payment method.",
    "Yearly billing is available for every plan and costs the same as ten months, so two months are free.",
    "Acme support answers questions about accounts, billing, files and the Acme Vault.",
    "Acme support is available every day by chat and at support@acme.example.",
]
HELP_CENTER += [
    f"The {plan} plan costs {f['price']} a month and includes {f['storage']} of storage. Single files can be up to {f['maxfile']}, "
    f"and the API allows {f['rate']} requests per minute."
    for plan, f in PLANS.items()
]
HELP_CENTER += [f"Acme Vault delivery to {c} usually takes {d}." for c, d in DELIVERY.items()]

# Held-out questions: phrasings that appear nowhere in the training rows, one per request type, with the
# answer a fine-tuned model should give. The demo asks a few of these before and after fine-tuning.
HELD_OUT = [
    ("password_reset", "Hello, I can't remember my password and the login page won't let me in. What should I do?", {}),
    ("refund", "I want my money back for the {plan} plan.", {"plan": "Plus"}),
    ("double_charge", "Acme charged my card twice for the {plan} plan this month.", {"plan": "Pro"}),
    ("upgrade", "Can I move my account up to the {plan} plan?", {"plan": "Business"}),
    ("downgrade", "I'd like to go from Pro down to the {plan} plan.", {"plan": "Basic"}),
    ("cancel", "How can I stop my subscription from renewing?", {}),
    ("delete_account", "Please delete my Acme account and everything in it.", {}),
    ("export", "Can I download a copy of everything I have stored with you?", {}),
    ("2fa_setup", "How do I add two-factor authentication to my login?", {"device": "phone"}),
    ("2fa_lost", "My phone broke and now I can't get the 2FA codes to log in.", {"device": "phone"}),
    ("api_limits", "What is the API request limit on the {plan} plan?", {"plan": "Pro"}),
    ("outage", "Is the service down right now? The web app won't load.", {}),
    ("shipping", "How long will shipping take for my Acme Vault order {order} to {country}?", {"order": "AV-31337", "country": "Canada"}),
    ("storage_full", "My {plan} storage is full and I can't upload anything.", {"plan": "Plus"}),
    ("sync", "My {device} stopped syncing files with Acme.", {"device": "Mac"}),
    ("share", "How can I send a share link to a friend?", {}),
    ("restore", "I deleted my {file} by accident, how do I get it back?", {"file": "budget-2024.xlsx"}),
    ("change_email", "I need to change the email address on my account.", {}),
    ("invoices", "Where do I download my billing invoices?", {}),
    ("card_declined", "My credit card payment failed. What happens now?", {}),
    ("pricing", "How much is the {plan} plan per month?", {"plan": "Pro"}),
    ("file_size", "What's the biggest file I can upload on {plan}?", {"plan": "Basic"}),
    ("thanks", "Thank you, that fixed my problem!", {}),
    ("off_topic", "Can you recommend a good movie to watch tonight?", {}),
]


def held_out() -> list[dict]:
    rows = []
    for intent, user, slots in HELD_OUT:
        full = {**slots, **(PLANS[slots["plan"]] if "plan" in slots else {}), **({"days": DELIVERY[slots["country"]]} if "country" in slots else {})}
        rows.append({"intent": intent, "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user.format(**full)},
            {"role": "assistant", "content": INTENTS[intent][1].format(**full)},
        ]})
    return rows


def build(seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    seen: set[str] = set()
    for intent, (users, answer, pick) in INTENTS.items():
        made, tries = 0, 0
        while made < ROWS_PER_INTENT:
            tries += 1
            if tries > 10_000:
                raise SystemExit(f"{intent}: could not make {ROWS_PER_INTENT} distinct rows")
            name = rng.choice(NAMES)
            slots = {"name": name, **pick(rng, name)}
            # Cycle through every phrasing before repeating one, then pick at random.
            template = users[made] if made < len(users) else rng.choice(users)
            opener = "" if intent in NO_OPENER else rng.choice(OPENERS)
            statement = template.endswith(".") and "please" not in template.lower()
            closer = "" if intent in NO_OPENER or template.endswith("!") else rng.choice(STATEMENT_CLOSERS if statement else CLOSERS)
            user = (opener + sentence_case_after(opener, template) + closer).format(**slots)
            mentioned = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            mentioned |= {i for f in mentioned for i in IMPLIED.get(f, ())}
            for _, field, _, _ in string.Formatter().parse(answer):
                if field and field not in mentioned:
                    if field not in ANSWER_DEFAULTS:
                        raise SystemExit(f"{intent}: the answer uses {{{field}}} but {template!r} doesn't mention it")
                    slots = {**slots, field: ANSWER_DEFAULTS[field]}
            user = re.sub(r"(^|[.?!] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), user)  # a slot can start a sentence
            if user in seen:
                continue
            seen.add(user)
            rows.append({"messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer.format(**slots)},
            ]})
            made += 1
    rng.shuffle(rows)
    return rows


def outputs() -> dict[str, str]:
    train = build()
    users = {r["messages"][1]["content"] for r in train}
    held = held_out()
    for r in held:
        assert r["messages"][1]["content"] not in users, r
    jsonl = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    return {
        "customer-support.jsonl": jsonl(train),
        "customer-support-heldout.jsonl": jsonl([{"messages": r["messages"]} for r in held]),
        "help-center.txt": "".join(line + "\n" for line in HELP_CENTER),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=OUT.parent)
    ap.add_argument("--check", action="store_true", help="exit 1 if the files in --out-dir differ from what would be written")
    args = ap.parse_args()
    stale = 0
    for name, text in outputs().items():
        path = args.out_dir / name
        if args.check:
            same = path.exists() and path.read_text(encoding="utf-8") == text
            stale += not same
            print(f"{path}: {'up to date' if same else 'differs; rerun scripts/make-support-dataset.py'}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10))} lines)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
