"""Korean feedback for the exercise checks of :mod:`camutils.check`.

The checks build their messages in English; after ``camutils.check.set_language("ko")`` each line
they print is translated here, at print time, so that no check needs to know about Korean::

    >>> print(translate_line("Not yet: give the IoU as a fraction in [0, 1], not a percentage."))
    아직 아닙니다: IoU를 백분율이 아니라 [0, 1] 사이의 비율로 주십시오.
    >>> translate("a 13 x 13 grid: 169 occluded copies plus the original photo, "
    ...           "170 forward passes (CAM needs 1).")
    '13 x 13 격자입니다: 가린 사본 169장에 원본 사진을 더해 순전파가 170번 필요합니다 (CAM은 1번).'

How a message is matched:

- The catalogues map each English *template* to a Korean one. A template is the message as it is
  written in ``check.py``: an f-string's literal text, with each replacement field (``{n * n}``,
  ``{tuple(got.shape)}``, ``{ts[i]:.2f}``) as a placeholder and literal braces doubled, as in the
  source. Each template compiles to a regular expression (literal text escaped, each field a
  non-greedy group, a field used twice a back-reference) that must match the whole message; the
  values caught by the groups (numbers, shapes, class names, Python's error text) go into the
  Korean template unchanged. When several templates match, the one with the most literal text
  wins.
- A hint built from pieces (``"; ".join(hints) + "."``, ``", or ".join(matches) + "."``) is a
  body joined with a separator of :data:`JOINS`, followed by a tail of :data:`TAILS`: the body is
  split at the separator and regrouped so that every group is a template of :data:`PIECES` (a
  piece may itself contain the separator), each translated on its own.
  Groups are tried shortest first, so that a piece ending in a field (``expected {want}``)
  never swallows the pieces after it.
- The fields of :data:`MESSAGE_FIELDS` hold English text themselves (``{why[k]}``); each value
  must be, exactly, a piece without fields, and is translated in turn.

A message without a Korean entry is printed in English, prefix included, and recorded in
:data:`missed`; ``tests/test_check_ko.py`` fails on any such message and on any English template
of ``check.py`` that has no Korean entry here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = [
    "JOINS",
    "MESSAGES",
    "MESSAGE_FIELDS",
    "PIECES",
    "PREFIXES",
    "TAILS",
    "fields",
    "missed",
    "translate",
    "translate_line",
]

PREFIXES: dict[str, str] = {
    "Correct: ": "정답입니다: ",
    "Not yet: ": "아직 아닙니다: ",
    "Not answered yet: ": "아직 답하지 않았습니다: ",
}

# Whole messages: the text given to _ok or _hint (or printed by _unanswered after its prefix).
MESSAGES: dict[str, str] = {
    # the helpers
    "replace the None (or ...) with your answer and run the cell again.": (
        "None (또는 ...) 자리에 답을 넣고 셀을 다시 실행하십시오."
    ),
    "calling your function on arguments {shapes} raised {type(e).__name__}: {e}": (
        "인자가 {shapes}일 때 함수를 호출하자 {type(e).__name__} 예외가 발생했습니다: {e}"
    ),
    "return a torch tensor; got {type(got).__name__}.": (
        "torch 텐서를 반환하십시오. 반환된 값의 타입은 {type(got).__name__}입니다."
    ),
    # notebook 01: toy_scores
    "give two numbers, (S_1, S_2): the Dog score first, then the Cat score.": (
        "숫자 두 개 (S_1, S_2)를 주십시오: Dog의 점수가 먼저, 그다음이 Cat의 점수입니다."
    ),
    "S = ({expected[0]:.4f}, {expected[1]:.4f}). Dog now leans on unit 1 (top-left), whose F_1 "
    "is the smallest, so its score dropped.": (
        "S = ({expected[0]:.4f}, {expected[1]:.4f})입니다. 이제 Dog은 유닛 1 (왼쪽 위)에 크게 "
        "기대는데, 그 F_1이 가장 작으므로 점수가 내려갔습니다."
    ),
    "these are 16 times too large: the study notes' F_k divides the sum by 16.": (
        "값이 16배 큽니다: 학습 노트의 F_k는 합을 16으로 나눕니다."
    ),
    "these are the scores with the ORIGINAL Dog weights (0.3, 0.5, 0.1).": (
        "이것은 바꾸기 전의 원래 Dog 가중치 (0.3, 0.5, 0.1)로 계산한 점수입니다."
    ),
    "right numbers, wrong order: Dog (c = 1) first, then Cat (c = 2).": (
        "숫자는 맞지만 순서가 틀렸습니다: Dog (c = 1)이 먼저, 그다음이 Cat (c = 2)입니다."
    ),
    "S_2 is right; recompute S_1 = 0.6 F_1 + 0.1 F_2 + 0.1 F_3.": (
        "S_2는 맞습니다. S_1 = 0.6 F_1 + 0.1 F_2 + 0.1 F_3을 다시 계산하십시오."
    ),
    "compute F_k = (sum of f_k) / 16 first, then S_c = sum_k w_k^c F_k.": (
        "먼저 F_k = (f_k의 합) / 16을 계산하고, 그다음 S_c = sum_k w_k^c F_k를 계산하십시오."
    ),
    # notebook 01: cam_function
    "calling fn(f, w) with f of shape (2, 5, 3, 4) and w of shape (6, 5) raised "
    "{type(e).__name__}: {e}": (
        "모양이 (2, 5, 3, 4)인 f와 모양이 (6, 5)인 w로 fn(f, w)를 호출하자 "
        "{type(e).__name__} 예외가 발생했습니다: {e}"
    ),
    "for f (2, 5, 3, 4) and w (6, 5) the result must be (B, C, h, w) = (2, 6, 3, 4); got "
    "{tuple(got.shape)}. One map per class, one value per location.": (
        "f (2, 5, 3, 4)와 w (6, 5)에 대해 결과는 (B, C, h, w) = (2, 6, 3, 4)여야 하는데, 결과의 "
        "모양은 {tuple(got.shape)}입니다. 클래스마다 맵이 하나, 위치마다 값이 하나입니다."
    ),
    "M_c(x, y) = sum_k w_k^c f_k(x, y), for every image and class at once.": (
        "M_c(x, y) = sum_k w_k^c f_k(x, y)를 모든 이미지와 클래스에 대해 한 번에 계산했습니다."
    ),
    "M_c is a weighted SUM over the K channels, not a mean.": (
        "M_c는 K개 채널의 평균이 아니라 가중 합입니다."
    ),
    "the means are right but the maps are not: keep (x, y) apart, do not pool.": (
        "평균은 맞지만 맵은 틀렸습니다: 위치 (x, y)를 구분해 두고, 풀링하지 마십시오."
    ),
    "M_c has no ReLU: negative evidence is part of the map.": (
        "M_c에는 ReLU가 없습니다: 반대 증거(음의 값)도 맵의 일부입니다."
    ),
    "check which index of w is the class: w[c, k] is w_k^c.": (
        "w의 어느 인덱스가 클래스인지 확인하십시오: w[c, k]가 w_k^c입니다."
    ),
    # notebook 02: occlusion_cost
    "give the grid as two whole numbers (h', w'), rows first.": (
        "격자를 정수 두 개 (h', w')로, 행의 수를 먼저 주십시오."
    ),
    "224 / 16 counts positions whose patch would stick out past the border; a patch must lie "
    "fully inside the image.": (
        "224 / 16은 패치가 경계 밖으로 삐져나가는 위치까지 셉니다. 패치는 이미지 안에 완전히 "
        "들어가야 합니다."
    ),
    "count the positions, not the steps between them: the first one too.": (
        "위치 사이의 간격이 아니라 위치의 개수를 세십시오: 첫 번째 위치도 셉니다."
    ),
    "that is the grid of patch 56 / stride 28; the defaults are 32 / 16.": (
        "그것은 패치 56 / stride 28의 격자입니다. 기본값은 32 / 16입니다."
    ),
    "per axis: how many top-left corners 0, 16, 32, ... leave the patch inside?": (
        "축마다 세어 보십시오: 왼쪽 위 모서리 0, 16, 32, ... 중 몇 개가 패치를 이미지 안에 둡니까?"
    ),
    "give the number of images sent forward as one whole number.": (
        "순전파로 보내는 이미지의 개수를 정수 하나로 주십시오."
    ),
    "a {n} x {n} grid: {n * n} occluded copies plus the original photo, {n * n + 1} forward "
    "passes (CAM needs 1).": (
        "{n} x {n} 격자입니다: 가린 사본 {n * n}장에 원본 사진을 더해 순전파가 {n * n + 1}번 "
        "필요합니다 (CAM은 1번)."
    ),
    "the grid is right; O_c compares each copy with S_c of which image?": (
        "격자는 맞습니다. O_c는 각 사본을 어느 이미지의 S_c와 비교합니까?"
    ),
    "50 was the cost of patch 56 / stride 28; count again for your grid.": (
        "50은 패치 56 / stride 28의 비용이었습니다. 여러분의 격자에 대해 다시 세어 보십시오."
    ),
    "the grid is right; one forward pass per occluded copy, and what else?": (
        "격자는 맞습니다. 가린 사본마다 순전파가 한 번씩 필요하고, 그 밖에 또 무엇이 필요합니까?"
    ),
    # notebook 02: gap_head_weights
    "give two whole numbers: the flatten + FC head's weights, then GAP's.": (
        "정수 두 개를 주십시오: flatten + FC 헤드의 가중치 수, 그다음이 GAP 헤드의 가중치 수입니다."
    ),
    "flatten + FC needs {grid} x {grid} = {z} times more weights than GAP + Linear, whose size "
    "does not depend on the grid at all.": (
        "flatten + FC에는 GAP + Linear보다 {grid} x {grid} = {z}배 많은 가중치가 필요합니다. "
        "GAP + Linear의 크기는 격자의 크기와 전혀 상관이 없습니다."
    ),
    "count the weights only, without the 1000 biases.": "편향 1000개는 빼고 가중치만 세십시오.",
    "GAP leaves ONE number per channel, whatever the grid's size.": (
        "전역 평균 풀링(GAP)은 격자의 크기와 상관없이 채널마다 숫자를 하나만 남깁니다."
    ),
    "that is the number of inputs of ONE class; there are 1000 classes.": (
        "그것은 클래스 하나의 입력 수입니다. 클래스는 1000개입니다."
    ),
    "GAP leaves one number per channel: how many inputs per class is that?": (
        "GAP은 채널마다 숫자를 하나 남깁니다: 그러면 클래스마다 입력이 몇 개입니까?"
    ),
    "that is the 7 x 7 grid of a 224 x 224 input; here it is {grid} x {grid}.": (
        "그것은 224 x 224 입력의 7 x 7 격자입니다. 여기서는 {grid} x {grid}입니다."
    ),
    "flattening keeps BOTH spatial axes: rows and columns.": (
        "평탄화(flatten)는 두 공간 축, 즉 행과 열을 모두 유지합니다."
    ),
    "flattening keeps every location: (channels x rows x columns) inputs to each class.": (
        "평탄화는 모든 위치를 유지합니다: 각 클래스에 (채널 x 행 x 열)개의 입력이 들어갑니다."
    ),
    # notebook 02: flatten_to_gap
    "return (C, K): one row per class, like the Linear head's weight.": (
        "(C, K)를 반환하십시오: Linear 헤드의 weight처럼 클래스마다 행이 하나입니다."
    ),
    "for W of shape {(C, K, h, w)} the result must be (C, K) = {(C, K)}; got "
    "{tuple(got.shape)}. Which axes are the positions?": (
        "모양이 {(C, K, h, w)}인 W에 대해 결과는 (C, K) = {(C, K)} 모양이어야 하는데, 결과의 모양은 "
        "{tuple(got.shape)}입니다. 어느 축이 위치입니까?"
    ),
    "w_k^c = sum_{{x,y}} W_c[k, x, y]. On copied weights W = w / (hw) it gives w back.": (
        "w_k^c = sum_{{x,y}} W_c[k, x, y]입니다. 복사된 가중치 W = w / (hw)에 적용하면 w가 그대로 "
        "돌아옵니다."
    ),
    "h x w times too small: GAP's F_k is already a mean, so the weights must not divide again.": (
        "h x w배만큼 작습니다: GAP의 F_k가 이미 평균이므로 가중치를 다시 나누면 안 됩니다."
    ),
    "h x w times too large: GAP's F_k is a mean over the positions.": (
        "h x w배만큼 큽니다: GAP의 F_k는 위치들에 대한 평균입니다."
    ),
    "with f_k(x, y) = F_k everywhere, the flatten score is sum_k F_k (sum over x, y of "
    "W_c[k, x, y]) + b_c: which w makes sum_k w_k^c F_k + b_c equal to it?": (
        "모든 위치에서 f_k(x, y) = F_k이면 flatten 헤드의 점수는 sum_k F_k (W_c[k, x, y]의 "
        "x, y에 대한 합) + b_c입니다: 어떤 w라야 sum_k w_k^c F_k + b_c가 이와 같아집니까?"
    ),
    # notebook 02: explanation_families
    'give a dict such as {{"CAM": "activation", ...}}.': (
        '{{"CAM": "activation", ...}} 같은 dict를 주십시오.'
    ),
    "also classify: {', '.join(missing)}.": "다음도 분류하십시오: {', '.join(missing)}.",
    "gradients flow back, activations are weighted, inputs are perturbed.": (
        "역전파 기반 방법은 기울기를 거꾸로 흘려보내고, 활성화 기반 방법은 활성값에 가중치를 "
        "주며, 섭동 기반 방법은 입력을 조금씩 바꿉니다."
    ),
    # notebook 03: per_image_cams
    "that is every class's map; keep only each image's own n classes: (B, n, h, w).": (
        "그것은 모든 클래스의 맵입니다. 이미지마다 그 이미지의 클래스 n개만 남기십시오: "
        "(B, n, h, w)."
    ),
    "for features (3, 5, 2, 4), weight (7, 5) and classes (3, 2) the result must be "
    "(B, n, h, w) = (3, 2, 2, 4); got {tuple(got.shape)}.": (
        "features (3, 5, 2, 4), weight (7, 5), classes (3, 2)에 대해 결과는 (B, n, h, w) = "
        "(3, 2, 2, 4)여야 하는데, 결과의 모양은 {tuple(got.shape)}입니다."
    ),
    "weight[classes] is (B, n, K): each image's rows, paired with its features.": (
        "weight[classes]는 (B, n, K)입니다: 이미지마다 그 이미지의 클래스의 행이 그 이미지의 "
        "특성과 짝지어집니다."
    ),
    "every image got the FIRST image's classes; image b has classes[b].": (
        "모든 이미지가 첫 번째 이미지의 클래스를 받았습니다. 이미지 b의 클래스는 classes[b]입니다."
    ),
    "pair image b's features with the weight rows of ITS classes, classes[b].": (
        "이미지 b의 특성은 바로 그 이미지의 클래스 classes[b]의 weight 행과 짝지으십시오."
    ),
    # notebook 03: upsample_size
    "give two whole numbers, the size of the map you want.": (
        "원하는 맵의 크기를 정수 두 개로 주십시오."
    ),
    "torch sizes are (height, width); PIL's .size is (width, height).": (
        "torch의 크기는 (높이, 너비)이고, PIL의 .size는 (너비, 높이)입니다."
    ),
    "that is (width, height), the order of PIL's .size and cv2.resize; torch wants the other "
    "order.": (
        "그것은 PIL의 .size와 cv2.resize의 순서인 (너비, 높이)입니다. torch는 반대 순서를 씁니다."
    ),
    "use the photo's own size in pixels, not the network's 224 x 224.": (
        "네트워크의 224 x 224가 아니라 사진 자체의 픽셀 크기를 쓰십시오."
    ),
    # notebook 03: normalized_pixel
    "give two numbers: the min-max value, then the ReLU / max value.": (
        "숫자 두 개를 주십시오: 최소-최대 정규화 값, 그다음이 ReLU / max 값입니다."
    ),
    "min-max: (0 + 4) / 12 = 0.33, above 0.2; ReLU / max: 0 / 8 = 0, below. Min-max counts "
    "'no evidence' as a third of the way to the peak.": (
        "최소-최대: (0 + 4) / 12 = 0.33으로 0.2보다 큽니다. ReLU / max: 0 / 8 = 0으로 0.2보다 "
        "작습니다. 최소-최대 정규화는 '증거 없음'을 최댓값까지 가는 길의 3분의 1로 칩니다."
    ),
    "the two values are swapped: which of the two shifts by the minimum?": (
        "두 값이 뒤바뀌었습니다: 둘 중 어느 쪽이 최솟값만큼 이동합니까?"
    ),
    "normalised values lie in [0, 1]: give fractions, not percentages.": (
        "정규화된 값은 [0, 1] 안에 있습니다: 백분율이 아니라 비율로 주십시오."
    ),
    "min-max divides by the range, max - min, not by the max.": (
        "최소-최대 정규화는 max가 아니라 범위 max - min으로 나눕니다."
    ),
    "min-max sends the MINIMUM (-4) to 0, not the value 0.": (
        "최소-최대 정규화는 값 0이 아니라 최솟값(-4)을 0으로 보냅니다."
    ),
    "min-max: (M - min M) / (max M - min M).": "최소-최대 정규화: (M - min M) / (max M - min M).",
    "method='max' does not shift by the minimum: ReLU, then divide by the max.": (
        "method='max'는 최솟값만큼 이동하지 않습니다: ReLU를 적용한 뒤 max로 나눕니다."
    ),
    "ReLU first: negative values become 0, the rest is divided by the maximum.": (
        "ReLU가 먼저입니다: 음수는 0이 되고, 나머지는 최댓값으로 나뉩니다."
    ),
    # notebook 04: threshold_box, threshold_box_shifted
    "give four whole numbers, (xmin, ymin, xmax, ymax).": (
        "정수 네 개 (xmin, ymin, xmax, ymax)를 주십시오."
    ),
    "values >= 1.8 are kept; the 2 x 2 block is the largest component.": (
        "1.8 이상인 값이 남습니다. 2 x 2 블록이 가장 큰 연결 요소입니다."
    ),
    "the corner 9 touches the block only if 8-connected diagonally: it does not.": (
        "모서리의 9가 블록과 이어지려면 대각선으로 8-연결되어야 하는데, 그렇지 않습니다."
    ),
    "keep only the LARGEST connected component, not every kept pixel.": (
        "남은 픽셀 전부가 아니라 가장 큰 연결 요소 하나만 남기십시오."
    ),
    "1 is below 20% of 9 (= 1.8): that pixel is not kept.": (
        "1은 9의 20% (= 1.8)보다 작습니다: 그 픽셀은 남지 않습니다."
    ),
    "the box is inclusive: xmax is the last kept column itself, not one past it.": (
        "바운딩 박스는 양 끝을 포함합니다(inclusive): xmax는 그다음 열이 아니라 마지막으로 "
        "남은 열 자체입니다."
    ),
    "threshold at 0.2 x max, then take the largest component's extent.": (
        "0.2 x max를 임계값으로 적용한 뒤, 가장 큰 연결 요소가 차지하는 범위를 구하십시오."
    ),
    "the max is 11, the threshold 2.2: the old zeros (now 2) stay out, but the 1 (now 3) passes "
    "and joins the block. 20% of the max is not shift-invariant.": (
        "최댓값은 11, 임계값은 2.2입니다: 원래의 0 (이제 2)은 여전히 빠지지만, 1 (이제 3)은 "
        "통과해 블록에 합류합니다. 최댓값의 20%라는 기준은 값의 이동에 불변이 아닙니다."
    ),
    "that is the box of the original map; with every value raised by 2, recompute the "
    "threshold and look again at each small value.": (
        "그것은 원래 맵의 박스입니다. 모든 값이 2씩 올라갔으니 임계값을 다시 계산하고 작은 "
        "값들을 하나씩 다시 보십시오."
    ),
    "are the old zeros, now 2, above 20% of the NEW maximum?": (
        "원래 0이었고 이제 2인 값들이 새 최댓값의 20%보다 큽니까?"
    ),
    "the corner value touches the block only through cells below the threshold.": (
        "모서리 값은 임계값보다 작은 셀을 거쳐서만 블록에 닿습니다."
    ),
    "order: (xmin, ymin, xmax, ymax), with x the column and y the row.": (
        "순서는 (xmin, ymin, xmax, ymax)입니다. x가 열, y가 행입니다."
    ),
    "first the new maximum and 0.2 x it, then the kept pixels and the components.": (
        "먼저 새 최댓값과 그 0.2배를 구하고, 그다음 남는 픽셀과 연결 요소를 보십시오."
    ),
    # notebook 04: box_iou_inclusive
    "give one number, the IoU as a fraction in [0, 1].": (
        "숫자 하나, 곧 [0, 1] 사이의 비율로 나타낸 IoU를 주십시오."
    ),
    "IoU = 20 x 20 / (40 x 40 + 40 x 40 - 20 x 20) = {expected:.4f}.": (
        "IoU = 20 x 20 / (40 x 40 + 40 x 40 - 20 x 20) = {expected:.4f}입니다."
    ),
    "give the IoU as a fraction in [0, 1], not a percentage.": (
        "IoU를 백분율이 아니라 [0, 1] 사이의 비율로 주십시오."
    ),
    "ILSVRC boxes are inclusive: a box from 10 to 49 is 40 pixels wide (+1).": (
        "ILSVRC의 박스는 양 끝을 포함합니다: 10부터 49까지의 박스는 너비가 40픽셀입니다 (+1)."
    ),
    "divide by the UNION (both areas minus the overlap), not by one box's area.": (
        "박스 하나의 넓이가 아니라 합집합(두 넓이의 합에서 겹친 부분을 뺀 값)으로 나누십시오."
    ),
    "the union counts the overlap once: subtract it from the sum of the areas.": (
        "합집합은 겹친 부분을 한 번만 셉니다: 두 넓이의 합에서 겹친 부분을 빼십시오."
    ),
    "overlap = (min xmax - max xmin + 1) x (min ymax - max ymin + 1).": (
        "겹친 부분 = (min xmax - max xmin + 1) x (min ymax - max ymin + 1)."
    ),
    # notebook 04: localization_errors, top5_localization
    "give three numbers in %: top-1 error, top-5 error, GT-known accuracy.": (
        "% 단위의 숫자 세 개를 주십시오: top-1 위치화 오류율, top-5 위치화 오류율, GT-known 위치화 "
        "정확도입니다."
    ),
    "right, but as fractions: give percentages (0.6 -> 60).": (
        "값은 맞지만 비율로 주었습니다: 백분율로 주십시오 (0.6 -> 60)."
    ),
    "top-1 60 %, top-5 40 %, GT-known 80 %: a good box only counts with the right class, and "
    "GT-known ignores the ranking altogether.": (
        "top-1 60 %, top-5 40 %, GT-known 80 %입니다: 좋은 박스도 클래스가 맞아야만 인정되고, "
        "GT-known 위치화 정확도는 순위를 아예 보지 않습니다."
    ),
    "answer True or False for each.": "각각 True 또는 False로 답하십시오.",
    "top-1 fails (wrong class); the third guess has the right class and IoU >= 0.5.": (
        "top-1은 실패합니다 (클래스가 틀림). 세 번째 추정은 클래스가 맞고 IoU >= 0.5입니다."
    ),
    "top-1 needs the FIRST guess's class to be right; IoU alone is not enough.": (
        "top-1은 첫 번째 추정의 클래스가 맞아야 합니다. IoU만으로는 부족합니다."
    ),
    "top-5 is correct if ANY of the first five guesses has the class and IoU >= 0.5.": (
        "top-5는 처음 다섯 개의 추정 중 하나라도 클래스가 맞고 IoU >= 0.5이면 맞습니다."
    ),
    # notebook 05: pooling_credit
    "give two whole numbers of cells (GAP, then GMP) and one fraction (GAP's gradient at one "
    "cell divided by w_k^c).": (
        "셀의 개수를 정수 두 개로 (GAP, 그다음 GMP), 그리고 비율 하나를 (한 셀에서의 GAP의 "
        "기울기를 w_k^c로 나눈 값) 주십시오."
    ),
    "GAP spreads w_k^c evenly, w_k^c / {z} to each of the {z} cells; GMP gives all of w_k^c to "
    "the single strongest cell. Under GAP every cell of f_k gets training signal, under GMP "
    "only the peak.": (
        "GAP은 w_k^c를 {z}개의 셀에 w_k^c / {z}씩 고르게 나눠 줍니다. GMP는 w_k^c 전부를 가장 "
        "강한 셀 하나에 줍니다. GAP에서는 f_k의 모든 셀이 학습 신호를 받고, GMP에서는 최댓값의 "
        "셀만 받습니다."
    ),
    # notebook 05: surgery_parameters
    "give one whole number, the count of parameters.": "파라미터의 개수를 정수 하나로 주십시오.",
    "{_BODY_PARAMETERS:,} (body) + {conv_w + conv_b:,} (3x3 conv) + {bn:,} (BatchNorm) + "
    "{lin_w + lin_b:,} (Linear) = {total:,}; the flatten + FC network had {fc_net:,}. The new "
    "conv holds most of the new parameters; the GAP + Linear head only {lin_w + lin_b:,}.": (
        "{_BODY_PARAMETERS:,} (몸체) + {conv_w + conv_b:,} (3x3 합성곱) + {bn:,} (BatchNorm) + "
        "{lin_w + lin_b:,} (Linear) = {total:,}입니다. flatten + FC 네트워크에는 {fc_net:,}개가 "
        "있었습니다. 새 파라미터의 대부분은 새 합성곱 층에 있고, GAP + Linear 헤드에는 "
        "{lin_w + lin_b:,}개뿐입니다."
    ),
    "count layer by layer: a conv has in x out x 3 x 3 weights + out biases, BatchNorm a scale "
    "and a shift per unit, a Linear in x out weights + out biases; then add the body.": (
        "층별로 세십시오: 합성곱 층에는 in x out x 3 x 3개의 가중치와 out개의 편향, BatchNorm에는 "
        "유닛마다 scale과 shift가 하나씩, Linear 층에는 in x out개의 가중치와 out개의 편향이 "
        "있습니다. 그다음 몸체를 더하십시오."
    ),
    # notebook 05: ranking_reversal
    'pass the two sweeps of one seed as the notebook has them: runs[0].sweeps["CAM on GMP"] '
    'and runs[0].sweeps["CAM on FC -> GAP (surgery)"].': (
        '한 시드의 임계값 스윕 두 개를 노트북에 있는 그대로 넘기십시오: runs[0].sweeps["CAM on '
        'GMP"]와 runs[0].sweeps["CAM on FC -> GAP (surgery)"].'
    ),
    "give one threshold t, a fraction of the map's maximum such as 0.2.": (
        "임계값 t 하나를 0.2처럼 맵의 최댓값에 대한 비율로 주십시오."
    ),
    "give t as a fraction of the maximum (0.2), not a percentage (20).": (
        "t를 백분율 (20)이 아니라 최댓값에 대한 비율 (0.2)로 주십시오."
    ),
    "give one of the sweep's thresholds: 0.00, 0.05, ..., 0.95.": (
        "스윕의 임계값 0.00, 0.05, ..., 0.95 중 하나를 주십시오."
    ),
    "in this run the surgery network never gets ahead of GMP above t = 0.2.": (
        "이 실행에서는 t = 0.2 이상에서 수술한 네트워크가 GMP를 한 번도 앞서지 않습니다."
    ),
    "at t = {ts[i]:.2f} the surgery network is ahead of GMP.": (
        "t = {ts[i]:.2f}에서 수술한 네트워크가 GMP보다 앞섭니다."
    ),
    "at t = {ts[i]:.2f} the surgery network is ahead ({surgery[i]:.1f}% vs {gmp[i]:.1f}%), at "
    "t = {ts[j]:.2f} it was not ({surgery[j]:.1f}% vs GMP's {gmp[j]:.1f}%). Two comparisons "
    "that each fix one threshold, on either side, rank the two methods in opposite orders.": (
        "t = {ts[i]:.2f}에서는 수술한 네트워크가 앞서고 ({surgery[i]:.1f}% 대 {gmp[i]:.1f}%), "
        "t = {ts[j]:.2f}에서는 그렇지 않았습니다 ({surgery[j]:.1f}% 대 GMP의 {gmp[j]:.1f}%). "
        "이 지점의 양쪽에서 임계값을 하나씩 고정해 비교하면, 두 비교는 두 방법의 순위를 "
        "정반대로 매깁니다."
    ),
    "that is where the surgery network peaks (its MaxBoxAcc); it overtakes GMP earlier.": (
        "그것은 수술한 네트워크가 최고점(그 네트워크의 MaxBoxAcc)에 이르는 임계값입니다. GMP를 "
        "앞지르는 임계값은 그보다 낮습니다."
    ),
    "that is GMP's best threshold; where does the OTHER curve pass above it?": (
        "그것은 GMP의 최적 임계값입니다. 다른 쪽 곡선은 어디에서 GMP의 곡선 위로 올라갑니까?"
    ),
    "start from the paper's t = {paper_t} and go up.": (
        "논문의 t = {paper_t}에서 시작해 위로 올라가십시오."
    ),
    "at t = {ts[i]:.2f} GMP is still ahead or level ({gmp[i]:.1f}% vs {surgery[i]:.1f}%): look "
    "at higher thresholds.": (
        "t = {ts[i]:.2f}에서는 아직 GMP가 앞서거나 같습니다 ({gmp[i]:.1f}% 대 "
        "{surgery[i]:.1f}%): 더 높은 임계값을 보십시오."
    ),
    "at t = {ts[i]:.2f} the surgery network is ahead, but it already was at a lower threshold: "
    "find the FIRST one.": (
        "t = {ts[i]:.2f}에서 수술한 네트워크가 앞서지만, 더 낮은 임계값에서 이미 앞서 "
        "있었습니다: 처음으로 앞서는 임계값을 찾으십시오."
    ),
    # notebook 06: loc_verdicts
    "pass your function itself, verdicts, not its result verdicts(line).": (
        "함수의 결과 verdicts(line)이 아니라 함수 자체, 곧 verdicts를 넘기십시오."
    ),
    "your function read the field {e}; use only line['label'], line['classes'] and "
    "line['gt_known_iou'] (the stored verdicts are what it must reproduce).": (
        "함수가 {e} 필드를 읽었습니다. line['label'], line['classes'], line['gt_known_iou']만 "
        "쓰십시오 (저장된 판정은 함수가 재현해야 할 대상입니다)."
    ),
    "calling your function on {line} raised {type(e).__name__}: {e}": (
        "{line}에 대해 함수를 호출하자 {type(e).__name__} 예외가 발생했습니다: {e}"
    ),
    "return three True/False values; for {line} it returned {got!r}.": (
        "True/False 값 세 개를 반환하십시오. {line}에 대해 반환된 값은 {got!r}입니다."
    ),
    "all {len(cases)} cases. The true class's box decides all three: top-1 also needs c* first, "
    "top-5 needs c* among the five, GT-known ignores the ranking.": (
        "사례 {len(cases)}개를 모두 맞혔습니다. 세 판정 모두 정답 클래스의 박스로 정해집니다: "
        "top-1은 c*가 첫 번째여야 하고, top-5는 c*가 다섯 개 안에 있어야 하며, GT-known은 순위를 "
        "보지 않습니다."
    ),
    # notebook 06: box_to_original
    "give four numbers, (xmin, ymin, xmax, ymax) in the 500 x 375 photo.": (
        "500 x 375 사진에서의 숫자 네 개 (xmin, ymin, xmax, ymax)를 주십시오."
    ),
    "{tuple(exact)}: x scales by W / 224 = {w / s:.3f}, y by H / 224 = {h / s:.3f} (squash "
    "does not keep the aspect ratio).": (
        "{tuple(exact)}: x는 W / 224 = {w / s:.3f}배, y는 H / 224 = {h / s:.3f}배가 됩니다 "
        "(squash는 가로세로 비율을 유지하지 않습니다)."
    ),
    "within a pixel or two. The exact edges, {tuple(exact)}, count whole pixels: an original "
    "pixel is in the box when its centre is, and an inclusive xmax covers the whole last input "
    "pixel, up to (xmax + 1) x W / 224 (boxes_to_original).": (
        "한두 픽셀 이내로 맞혔습니다. 정확한 경계 {tuple(exact)}에서는 픽셀을 통째로 셉니다: "
        "원본 픽셀은 그 중심이 박스 안에 있을 때 박스에 속하고, 양 끝을 포함하는 xmax는 입력의 "
        "마지막 픽셀 전체, 곧 (xmax + 1) x W / 224까지를 덮습니다 (boxes_to_original)."
    ),
    "that is the box on the 224 x 224 input; map it to the 500 x 375 photo.": (
        "그것은 224 x 224 입력 위의 박스입니다. 500 x 375 사진으로 옮기십시오."
    ),
    "right numbers, wrong order: (xmin, ymin, xmax, ymax), x the column.": (
        "숫자는 맞지만 순서가 틀렸습니다: 순서는 (xmin, ymin, xmax, ymax)입니다. x가 열입니다."
    ),
    "x and y scales are swapped: x runs along the WIDTH (500 pixels), y along the height (375).": (
        "x와 y의 배율이 뒤바뀌었습니다: x는 너비 (500픽셀), y는 높이 (375)를 따라갑니다."
    ),
    "one factor for both axes: squash resizes 500 -> 224 across and 375 -> 224 down, two "
    "different factors.": (
        "두 축에 배율을 하나만 썼습니다: squash는 가로로 500 -> 224, 세로로 375 -> 224로 크기를 "
        "바꾸므로 두 배율이 서로 다릅니다."
    ),
    "the photo is larger than the input: multiply by W / 224 and H / 224.": (
        "사진이 입력보다 큽니다: W / 224와 H / 224를 곱하십시오."
    ),
    "that is the mapping of mode='crop' (resize, centre cut); this preprocessing squashes the "
    "whole photo.": (
        "그것은 mode='crop' (크기 조정 후 중앙 자르기)의 변환입니다. 이 전처리는 사진 전체를 "
        "늘립니다(squash)."
    ),
    "inclusive boxes end at the last pixel: xmax <= {w - 1}, ymax <= {h - 1}.": (
        "양 끝을 포함하는 박스는 마지막 픽셀에서 끝납니다: xmax <= {w - 1}, ymax <= {h - 1}."
    ),
    "each x coordinate times W / 224, each y coordinate times H / 224.": (
        "x 좌표마다 W / 224를, y 좌표마다 H / 224를 곱하십시오."
    ),
    # notebook 06: blacklist_errors
    "give two numbers in %: the error over every image, then without the list.": (
        "% 단위의 숫자 두 개를 주십시오: 모든 이미지에 대한 위치화 오류율, 그다음이 "
        "블랙리스트를 뺀 위치화 오류율입니다."
    ),
    "give percentages (0.58 -> 58), as the table does.": (
        "표에서처럼 백분율로 주십시오 (0.58 -> 58)."
    ),
    "{full:.2f} % and {clean:.2f} %. The blacklisted images are harder than the rest "
    "({bl_error:.1f} % wrong), so leaving them out lowers the error; classification errors "
    "still count all 50,000 images.": (
        "{full:.2f} %와 {clean:.2f} %입니다. 블랙리스트의 이미지는 나머지보다 어려우므로 "
        "({bl_error:.1f} %가 틀림) 빼면 오류율이 내려갑니다. 분류 오류율은 여전히 50,000장을 "
        "모두 셉니다."
    ),
    # notebook 07: gradcam_scale
    "give one number, the factor in L_c = factor x M_c.": (
        "숫자 하나, 곧 L_c = factor x M_c의 factor를 주십시오."
    ),
    "dS_c / df_k(x, y) = w_k^c / {h * w} at every cell, so alpha_k^c = w_k^c / {h * w} and "
    "L_c = M_c / {h * w}: the same map, scaled.": (
        "모든 셀에서 dS_c / df_k(x, y) = w_k^c / {h * w}이므로 alpha_k^c = w_k^c / {h * w}이고 "
        "L_c = M_c / {h * w}입니다: 같은 맵에 상수를 곱한 것입니다."
    ),
    "the gradient of a mean divides by the number of cells; it does not multiply.": (
        "평균의 기울기는 셀의 개수로 나눕니다. 곱하지 않습니다."
    ),
    "the mean runs over the cells of the feature grid f_k, not the input pixels.": (
        "평균은 입력 픽셀이 아니라 특성 맵 f_k의 격자 셀에 대해 구합니다."
    ),
    "S_c holds F_k, the MEAN of f_k over the cells: what does a mean do to dS_c?": (
        "S_c에는 셀들에 대한 f_k의 평균인 F_k가 들어 있습니다: 평균이 dS_c를 어떻게 바꿉니까?"
    ),
    "write dS_c / df_k(x, y) for S_c = sum_k w_k^c mean_xy f_k + b_c, then average it.": (
        "S_c = sum_k w_k^c mean_xy f_k + b_c에 대해 dS_c / df_k(x, y)를 쓰고, 그것을 평균하십시오."
    ),
    # notebook 07: scorecam_passes
    "give one whole number: the images sent forward through the network.": (
        "정수 하나를 주십시오: 네트워크에 순전파로 보내는 이미지의 수입니다."
    ),
    "{images} for the activations A, then one masked copy per image and channel, {images} x "
    "{channels} = {images * channels}: {total} (Grad-CAM needs {images} and one backward pass "
    "through the head).": (
        "활성값 A를 얻는 데 {images}장, 그다음 이미지와 채널마다 마스크를 씌운 사본이 한 장씩 "
        "{images} x {channels} = {images * channels}장으로, 모두 {total}장입니다 (Grad-CAM은 "
        "{images}장과 헤드를 거치는 역전파 한 번이면 됩니다)."
    ),
    "the masked copies are right; where do the masks H_k come from?": (
        "마스크를 씌운 사본의 수는 맞습니다. 마스크 H_k는 어디에서 옵니까?"
    ),
    "each image of the batch gets its own masks: count them per image.": (
        "배치의 이미지마다 그 이미지의 마스크가 따로 있습니다: 이미지마다 세십시오."
    ),
    "the masked images need no backward pass; count forward passes once.": (
        "마스크를 씌운 이미지에는 역전파가 필요 없습니다. 순전파만 한 번씩 세십시오."
    ),
    "one pass for A, then one per image and per channel k (the mask H_k).": (
        "A를 얻는 데 한 번, 그다음 이미지마다 그리고 채널 k (마스크 H_k)마다 한 번씩입니다."
    ),
}

# Pieces of the hints built by joining (a piece has no final full stop: the tail adds it).
PIECES: dict[str, str] = {
    # notebook 02: explanation_families, "{k}: {why[k]}" with the values of ``why``
    "{k}: {why[k]}": "{k}: {why[k]}",
    "it needs a backward pass to the pixels": "픽셀까지 거꾸로 가는 역전파가 필요합니다",
    "it propagates relevance backwards, layer by layer": (
        "관련성(relevance)을 층마다 거꾸로 전파합니다"
    ),
    "it weights the forward activations; no backward pass": (
        "순전파의 활성값에 가중치를 주어 더합니다; 역전파는 없습니다"
    ),
    "it changes the input and watches the score": "입력을 바꾸고 점수가 어떻게 변하는지 봅니다",
    "it fits a simple model to the scores of perturbed inputs": (
        "섭동한 입력들의 점수에 간단한 모델을 맞춥니다"
    ),
    # notebook 04: localization_errors
    "top-1: you counted a first guess whose box is good but whose class is wrong": (
        "top-1: 박스는 좋지만 클래스가 틀린 첫 번째 추정을 맞은 것으로 세었습니다"
    ),
    "top-1: 40 % is the share of photos whose first guess IS right, or the top-1 "
    "classification error; the error counts first guesses that are not correct (class right "
    "AND IoU >= 0.5)": (
        "top-1: 40 %는 첫 번째 추정이 올바른 사진의 비율이거나 top-1 분류 오류율입니다; 위치화 "
        "오류율은 올바르지 않은 첫 번째 추정을 셉니다 (올바른 추정: 클래스가 맞고 IoU >= "
        "0.5)"
    ),
    "top-1: a photo counts as correct only through its FIRST guess": (
        "top-1: 사진은 첫 번째 추정을 통해서만 맞은 것으로 인정됩니다"
    ),
    "top-5: a guess with a wrong class never counts, however good its box": (
        "top-5: 클래스가 틀린 추정은 박스가 아무리 좋아도 인정되지 않습니다"
    ),
    "top-5: that is the top-5 CLASSIFICATION error; the guess with the true class also needs "
    "IoU >= 0.5": (
        "top-5: 그것은 top-5 분류 오류율입니다; 정답 클래스의 추정은 IoU >= 0.5도 만족해야 합니다"
    ),
    "top-5: that is the accuracy; the error is the rest": (
        "top-5: 그것은 정확도입니다; 오류율은 그 나머지입니다"
    ),
    "top-5: a photo is correct if ANY of its five guesses is correct": (
        "top-5: 다섯 개의 추정 중 하나라도 올바르면 그 사진은 맞은 것입니다"
    ),
    "GT-known: give the accuracy, not the error": "GT-known: 오류율이 아니라 정확도를 주십시오",
    "GT-known: the box comes from the true class's map whatever the network's ranking, inside "
    "or outside the top 5": (
        "GT-known: 박스는 네트워크의 순위와 상관없이, top 5 안이든 밖이든, 정답 클래스의 맵에서 "
        "나옵니다"
    ),
    "GT-known: only the box from the true class's map and IoU >= 0.5 count": (
        "GT-known: 정답 클래스의 맵에서 나온 박스와 IoU >= 0.5만 봅니다"
    ),
    # notebook 05: pooling_credit
    "the two counts are swapped: GAP first, then GMP": (
        "두 개수가 뒤바뀌었습니다: GAP이 먼저, 그다음이 GMP입니다"
    ),
    "GAP: the body's features here are on a {grid} x {grid} grid; 7 x 7 is the grid of the FC "
    "head after its max-pool (and of the ImageNet networks)": (
        "GAP: 여기서 몸체의 특성은 {grid} x {grid} 격자 위에 있습니다; 7 x 7은 max-pool을 거친 "
        "FC 헤드의 격자입니다 (ImageNet 네트워크의 격자이기도 합니다)"
    ),
    "GAP: count cells of the feature map f_k, not pixels of the image": (
        "GAP: 이미지의 픽셀이 아니라 특성 맵 f_k의 셀을 세십시오"
    ),
    "GAP: F_k is the mean of f_k; count the cells that a mean reads": (
        "GAP: F_k는 f_k의 평균입니다; 평균이 읽는 셀을 세십시오"
    ),
    "GMP: nudge a cell of f_k that is not its maximum a little and see whether F_k = max f_k "
    "changes": "GMP: f_k에서 최댓값이 아닌 셀을 조금 바꿔 보고 F_k = max f_k가 변하는지 보십시오",
    "GMP: the cell that holds the maximum does change F_k": (
        "GMP: 최댓값을 가진 셀은 F_k를 분명히 바꿉니다"
    ),
    "GMP: count the cells on which F_k = max f_k depends (ties aside)": (
        "GMP: F_k = max f_k가 의존하는 셀을 세십시오 (동점은 제외)"
    ),
    "GAP's share: give a fraction of w_k^c, not a percentage": (
        "GAP의 몫: 백분율이 아니라 w_k^c에 대한 비율로 주십시오"
    ),
    "GAP's share: S_c gets w_k^c per unit of F_k, and F_k is a MEAN of the cells": (
        "GAP의 몫: S_c는 F_k 한 단위마다 w_k^c를 얻고, F_k는 셀들의 평균입니다"
    ),
    "GAP's share: divide by the cells of the {grid} x {grid} grid": (
        "GAP의 몫: {grid} x {grid} 격자의 셀 수로 나누십시오"
    ),
    "GAP's share: a mean divides by the number of cells": "GAP의 몫: 평균은 셀의 개수로 나눕니다",
    "GAP's share: dS_c / df_k(x, y) = w_k^c x dF_k / df_k(x, y)": (
        "GAP의 몫: dS_c / df_k(x, y) = w_k^c x dF_k / df_k(x, y)입니다"
    ),
    # notebook 05: surgery_parameters, joined with ", or "
    "that is what the surgery adds; the network keeps its trained body too": (
        "그것은 수술이 더하는 부분입니다. 네트워크는 학습된 몸체도 그대로 가지고 있습니다"
    ),
    "the surgery DROPS the flatten + FC head (max-pool, flatten, both Linear layers)": (
        "수술은 flatten + FC 헤드 (max-pool, flatten, 두 Linear 층)를 없앱니다"
    ),
    "the new conv has a bias per unit": "새 합성곱 층에는 유닛마다 편향이 있습니다",
    "the new Linear has a bias per class": "새 Linear 층에는 클래스마다 편향이 있습니다",
    "the new conv and Linear both have biases": "새 합성곱 층과 Linear 층 모두 편향이 있습니다",
    "BatchNorm has two learnt parameters per unit (a scale and a shift)": (
        "BatchNorm에는 유닛마다 학습되는 파라미터가 두 개 (scale과 shift) 있습니다"
    ),
    "BatchNorm has TWO learnt parameters per unit (a scale and a shift)": (
        "BatchNorm에는 유닛마다 학습되는 파라미터가 하나가 아니라 두 개 (scale과 shift) 있습니다"
    ),
    "BatchNorm's running mean and variance are buffers, not parameters (net.parameters() "
    "leaves them out)": (
        "BatchNorm의 running mean과 variance는 파라미터가 아니라 버퍼입니다 (net.parameters()에는 "
        "들어가지 않습니다)"
    ),
    "BatchNorm's running mean, variance and batch count are buffers, not parameters "
    "(net.parameters() leaves them out)": (
        "BatchNorm의 running mean, variance, 배치 수는 파라미터가 아니라 버퍼입니다 "
        "(net.parameters()에는 들어가지 않습니다)"
    ),
    "a 3x3 conv has 3 x 3 weights per input channel and unit": (
        "3x3 합성곱 층에는 입력 채널과 유닛의 쌍마다 3 x 3개의 가중치가 있습니다"
    ),
    "the new conv reads the body's K = {K} channels, not {W}": (
        "새 합성곱 층은 {W}개가 아니라 몸체의 K = {K}개 채널을 읽습니다"
    ),
    "GAP leaves one number per unit for the Linear layer, not one per cell": (
        "GAP은 Linear 층에 셀마다가 아니라 유닛마다 숫자를 하나씩 넘깁니다"
    ),
    "that is the notebook's width 64; here the new conv has {W} units": (
        "그것은 노트북의 width 64일 때입니다. 여기서는 새 합성곱 층의 유닛이 {W}개입니다"
    ),
    # notebook 06: loc_verdicts
    "IoU exactly 0.5 counts as correct (IoU >= 0.5, not > 0.5)": (
        "IoU가 정확히 0.5이면 맞은 것입니다 (IoU > 0.5가 아니라 IoU >= 0.5)"
    ),
    "top-1: a first guess of the true class with a bad box (IoU < 0.5) is wrong": (
        "top-1: 첫 번째 추정이 정답 클래스여도 박스가 나쁘면 (IoU < 0.5) 틀린 것입니다"
    ),
    "top-1 looks at the FIRST guess only: is classes[0] the true class?": (
        "top-1은 첫 번째 추정만 봅니다: classes[0]이 정답 클래스인지 보십시오"
    ),
    "top-5: the true class must be among the five guesses; GT-known is the verdict that "
    "ignores the ranking": (
        "top-5: 정답 클래스가 다섯 개의 추정 안에 있어야 합니다; 순위를 보지 않는 판정은 "
        "GT-known입니다"
    ),
    "top-5: the guess of the true class also needs IoU >= 0.5": (
        "top-5: 정답 클래스의 추정도 IoU >= 0.5여야 합니다"
    ),
    "GT-known: the box of the true class's map and IoU >= 0.5 only, whatever the classifier "
    "ranked first (or in its top 5)": (
        "GT-known: 분류기가 무엇을 첫 번째로 (또는 top 5 안에) 꼽았든, 정답 클래스의 맵에서 나온 "
        "박스와 IoU >= 0.5만 봅니다"
    ),
    "top-5: any of the five positions counts, the last one included": (
        "top-5: 다섯 자리 중 어느 자리든, 마지막 자리도 인정됩니다"
    ),
    "top-1: the true class first and IoU >= 0.5 is a correct first guess": (
        "top-1: 정답 클래스가 첫 번째이고 IoU >= 0.5이면 올바른 첫 번째 추정입니다"
    ),
    "for label {label}, classes {classes}, IoU {iou}: expected {want}": (
        "label {label}, classes {classes}, IoU {iou}에 대해 기대한 판정은 {want}입니다"
    ),
    # notebook 06: blacklist_errors
    "every image: that is the accuracy; the error is the rest": (
        "모든 이미지: 그것은 정확도입니다; 위치화 오류율은 그 나머지입니다"
    ),
    "every image: the share of the 50,000 whose first guess is NOT correct": (
        "모든 이미지: 50,000장 중 첫 번째 추정이 올바르지 않은 이미지의 비율입니다"
    ),
    "without the list: that is the accuracy; the error is the rest": (
        "블랙리스트 제외: 그것은 정확도입니다; 위치화 오류율은 그 나머지입니다"
    ),
    "without the list: the blacklisted images leave the denominator too, not only the count "
    "of correct ones": (
        "블랙리스트 제외: 블랙리스트의 이미지는 맞은 개수에서만이 아니라 분모에서도 빠집니다"
    ),
    "without the list: the 600 blacklisted images that were correct leave the count of "
    "correct ones too": (
        "블랙리스트 제외: 맞았던 블랙리스트 이미지 600장은 맞은 개수에서도 빠집니다"
    ),
    "without the list: divide by the images that remain, not by 50,000": (
        "블랙리스트 제외: 50,000이 아니라 남은 이미지의 수로 나누십시오"
    ),
    "without the list: both counts change, so the error does too": (
        "블랙리스트 제외: 두 개수가 모두 바뀌므로 위치화 오류율도 바뀝니다"
    ),
    "without the list: correct ones that remain / images that remain": (
        "블랙리스트 제외: 남은 이미지 중 맞은 개수 / 남은 이미지의 수"
    ),
}

# What follows the joined pieces.
TAILS: dict[str, str] = {
    ".": ".",
    ". ({len(wrong)} of {len(cases)} cases wrong; e.g. {line} gave {got}.)": (
        ". (사례 {len(cases)}개 중 {len(wrong)}개가 틀렸습니다. 예를 들어 {line}에 대한 결과: "
        "{got}.)"
    ),
}

# The separators that join the pieces, and what joins their Korean translations.
JOINS: dict[str, str] = {"; ": "; ", ", or ": ". 또는 "}

# Replacement fields whose values are English pieces themselves, translated in turn.
MESSAGE_FIELDS = frozenset({"{why[k]}"})

missed: list[str] = []
"""The English messages printed in Korean mode without a Korean entry (printed in English)."""


def _split(template: str) -> list[tuple[bool, str]]:
    """``template`` as ``(is_field, text)`` parts: literal text (braces undoubled) and fields
    (``"{...}"`` as written, nested brackets and quotes allowed)."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c in "{}" and template[i : i + 2] == c + c:
            literal.append(c)
            i += 2
        elif c == "{":
            depth, j, quote = 0, i, ""
            while j < n:
                d = template[j]
                if quote:
                    quote = "" if d == quote else quote
                elif d in "'\"":
                    quote = d
                elif d in "{[(":
                    depth += 1
                elif d in "}])":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j == n:
                raise ValueError(f"unclosed replacement field in template {template!r}")
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, template[i : j + 1]))
            i = j + 1
        elif c == "}":
            raise ValueError(f"single '}}' in template {template!r}")
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def fields(template: str) -> set[str]:
    """The replacement fields of ``template``, as written: ``{"{n}", "{n * n + 1}"}``."""
    return {text for is_field, text in _split(template) if is_field}


@dataclass(frozen=True)
class _Template:
    english: str
    korean: str
    regex: re.Pattern
    groups: dict[str, str]  # field -> group name
    literal: int  # characters of literal text: the more, the more specific

    def fill(self, values: dict[str, str]) -> str:
        return "".join(values[t] if is_field else t for is_field, t in _split(self.korean))


def _compile(english: str, korean: str) -> _Template:
    pattern, groups, literal = [], {}, 0
    for is_field, text in _split(english):
        if not is_field:
            pattern.append(re.escape(text))
            literal += len(text)
        elif text in groups:
            pattern.append(f"(?P={groups[text]})")
        else:
            groups[text] = f"g{len(groups)}"
            pattern.append(f"(?P<{groups[text]}>.*?)")
    if fields(korean) != set(groups):
        raise ValueError(f"Korean template of {english!r} has other fields: {korean!r}")
    regex = re.compile("".join(pattern), re.DOTALL)
    return _Template(english, korean, regex, groups, literal)


@cache
def _catalogue(name: str) -> list[_Template]:
    table = {"messages": MESSAGES, "pieces": PIECES, "tails": TAILS}[name]
    templates = [_compile(en, ko) for en, ko in table.items()]
    return sorted(templates, key=lambda t: -t.literal)


def _apply(template: _Template, match: re.Match) -> str | None:
    values = {}
    for field, group in template.groups.items():
        value = match.group(group)
        if field in MESSAGE_FIELDS:
            value = PIECES.get(value.replace("{", "{{").replace("}", "}}"))
            if value is None or fields(value):
                return None
            value = value.replace("{{", "{").replace("}}", "}")
        values[field] = value
    return template.fill(values)


def _whole(message: str, catalogue: str) -> str | None:
    for template in _catalogue(catalogue):
        m = template.regex.fullmatch(message)
        if m is not None:
            korean = _apply(template, m)
            if korean is not None:
                return korean
    return None


def _piece(text: str) -> str | None:
    return _whole(text, "pieces")


def _joined(body: str, separator: str) -> list[str] | None:
    """The Korean pieces of ``body``: its parts between separators regrouped so that each
    group is a piece (a piece may contain the separator), else ``None``."""
    parts = body.split(separator)
    memo: dict[int, list[str] | None] = {len(parts): []}

    def rest(i: int) -> list[str] | None:
        if i not in memo:
            memo[i] = None
            for j in range(i + 1, len(parts) + 1):  # the shortest piece first
                korean = _piece(separator.join(parts[i:j]))
                if korean is not None:
                    tail = rest(j)
                    if tail is not None:
                        memo[i] = [korean, *tail]
                        break
        return memo[i]

    return rest(0)


def translate(message: str) -> str | None:
    """The Korean of one English ``message`` (without its prefix), or ``None`` when it has no
    Korean entry."""
    korean = _whole(message, "messages")
    if korean is not None:
        return korean
    for tail in _catalogue("tails"):
        m = re.compile(f"(?P<body>.+){tail.regex.pattern}", re.DOTALL).fullmatch(message)
        if m is None:
            continue
        ending = _apply(tail, m)
        for separator, korean_separator in JOINS.items():
            pieces = _joined(m.group("body"), separator)
            if pieces is not None and ending is not None:
                return korean_separator.join(pieces) + ending
    return None


def translate_line(line: str) -> str:
    """The Korean of a line printed by a check (prefix and message); the English line itself,
    recorded in :data:`missed`, when its message has no Korean entry."""
    for english, korean in PREFIXES.items():
        if line.startswith(english):
            translated = translate(line[len(english) :])
            if translated is not None:
                return korean + translated
            break
    missed.append(line)
    return line
