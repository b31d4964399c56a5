TICKS: list[object] = []


def main(mytimer: object) -> None:
    TICKS.append(mytimer)
