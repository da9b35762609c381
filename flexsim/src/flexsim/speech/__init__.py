"""Speech with ground truth: real words from a shipped clip bank, scripted card payments.

`bank` (the clips), `numbers` (cards, dates, amounts as said aloud), `phrases` (the lines),
`script` (words and their times per utterance), `payment` (the card payment and the agent's
pause plan), `truth` (what each recording channel holds, word by word and digit by digit).
Nothing is imported here: the timeline imports `words` without pulling in the rest.
"""
