"""What people say on a contact-centre call besides numbers: the lines the script draws from.

Every word here (and in `flexsim.speech.numbers`) is in the shipped clip bank; a test checks it,
and `tools/build_speech_bank.py` reads this vocabulary to synthesise the bank.
"""

from __future__ import annotations

AGENT_LINES = (
    "thank you for calling how can i help you today",
    "let me just check that for you",
    "can i have your name please",
    "i can see your account here",
    "is there anything else i can help you with",
    "i am sorry to hear that",
    "let me have a look at that for you",
    "that should be sorted out now",
    "can you confirm the first line of your address",
    "i will send you an email with the details",
    "that has been updated on your account",
    "one moment while i pull that up",
    "i understand let me see what i can do",
    "the engineer can come out next week",
    "you should see that on your next bill",
    "thank you for your patience",
    "i have made a note on the account",
    "is that the best number to reach you on",
    "the delivery is booked for the morning",
    "i can offer you a refund on that",
)
CUSTOMER_LINES = (
    "hi i am calling about my bill",
    "i would like to make a payment please",
    "my internet has not been working since yesterday",
    "the parcel did not arrive",
    "yes that is right",
    "i moved house last month",
    "can you tell me why the bill went up",
    "i was charged twice for the same thing",
    "no that is everything thank you",
    "i tried to log in but it did not work",
    "it says my account is on hold",
    "i would like to change my address",
    "could you send me a new card",
    "that would be great thanks",
    "i have been waiting for a call back",
    "my name is sam taylor",
    "the box arrived damaged",
    "can i speak to someone about my order",
    "i think there has been a mistake",
    "how long will that take",
)
BACKCHANNELS = ("okay", "right", "yes", "yeah", "sure", "i see", "great", "thanks", "uh huh")

# Distractor lines: a number a card detector must not silence. "{n}" is where it is said.
DISTRACTORS = {
    "phone": ("my phone number is {n}", "you can call me on {n}", "the number here is {n}"),
    "order": ("the order number is {n}", "my reference is {n}", "your ticket number is {n}"),
    "amount": ("the bill came to {n}", "you owe {n} this month", "i was charged {n}"),
    "date": ("it was on {n}", "the visit is on {n}", "i ordered it on {n}"),
}

# The payment: the agent asks, the customer reads the card, maybe the agent reads it back.
PAYMENT_ASK = (
    "i can take that payment for you now can i have the long number on the card",
    "can i take the card number please",
    "please read me the number on the front of the card",
)
CARD_INTRO = ("it is", "okay it is", "sure it is", "the number is")
READBACK_INTRO = ("let me read that back", "thank you so that is", "just to confirm that is")
READBACK_OK = ("yes that is right", "yes", "that is correct")
EXPIRY_ASK = ("and the expiry date please", "what is the expiry date", "and when does it expire")
CODE_ASK = (
    "and the {k} digit security code on the back please",
    "and finally the {k} digit code on the back of the card",
)
CODE_FRONT_ASK = ("and the four digit code on the front of the card",)
PAYMENT_DONE = (
    "thank you that payment of {n} has gone through",
    "thanks the payment of {n} is complete",
)


def vocabulary() -> set[str]:
    """Every word the scripts may say (numbers included)."""
    from flexsim.speech import numbers

    texts = [
        *AGENT_LINES,
        *CUSTOMER_LINES,
        *BACKCHANNELS,
        *(line for lines in DISTRACTORS.values() for line in lines),
        *PAYMENT_ASK,
        *CARD_INTRO,
        *READBACK_INTRO,
        *READBACK_OK,
        *EXPIRY_ASK,
        *(line.replace("{k}", "three") for line in CODE_ASK),
        *CODE_FRONT_ASK,
        *PAYMENT_DONE,
    ]
    words = {w for text in texts for w in text.replace("{n}", "").split()}
    words |= set(numbers.DIGIT_WORDS) | set(numbers.TEENS) | set(numbers.TENS[2:])
    words |= set(numbers.MONTHS) | set(numbers.ORDINALS)
    words |= {"oh", "double", "triple", "dollars", "cents", "and", "the", "of"}
    return words
